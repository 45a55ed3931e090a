// docker-archive writer. The tarball follows the layout `docker save` has used since
// Docker 25 (content-addressed files under blobs/sha256/), which older `docker load` and
// skopeo's docker-archive transport read through manifest.json:
//   blobs/  blobs/sha256/  blobs/sha256/<config hex>  blobs/sha256/<diff_id hex>...
//   manifest.json  [{"Config":"blobs/sha256/<hex>","Layers":[...],"RepoTags":[...]}]
//   repositories   {"<repo>":{"<tag>":"<config hex>"}} (only when tags are given)
// Entries are in bytewise path order with one fixed mtime and owner 0:0, so the same image
// always gives the same bytes. Each layer is decompressed on the fly; the compressed bytes
// are checked against the descriptor digest and the tar against the diff_id. A tar header
// needs the size first: when the uncompressed size is not known, the layer is decompressed
// into a temporary file (one layer at a time) and copied from there.
#include "oci/docker_archive.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "oci/decompress.hpp"
#include "oci/media_types.hpp"
#include "oci/reference.hpp"
#include "oci/tar_writer.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

namespace strata::oci {
namespace {

constexpr std::size_t k_copy_buffer = 256 * 1024;

// Hashes and counts what is read through it.
class HashingSource final : public util::Source {
 public:
  HashingSource(util::Source& inner, util::HashAlgorithm alg) : m_inner(inner), m_hasher(alg) {}
  std::size_t read(void* data, std::size_t size) override {
    const std::size_t n = m_inner.read(data, size);
    m_hasher.update(data, n);
    m_count += n;
    return n;
  }
  std::string finish_hex() { return m_hasher.finish_hex(); }
  [[nodiscard]] std::uint64_t count() const noexcept { return m_count; }

 private:
  util::Source& m_inner;
  util::Hasher m_hasher;
  std::uint64_t m_count = 0;
};

// Forwards to the tar writer's current entry.
class TarContentSink final : public util::Sink {
 public:
  explicit TarContentSink(TarWriter& tar) : m_tar(tar) {}
  using Sink::write;
  void write(const void* data, std::size_t size) override { m_tar.write_content(data, size); }

 private:
  TarWriter& m_tar;
};

std::string layer_name(const DockerArchiveLayer& layer) {
  return layer.descriptor.digest.str() + " (diff_id " + layer.diff_id.str() + ")";
}

// Streams the decompressed layer into `out` (at most `limit` bytes, when given) and checks
// the blob digest, the blob size and the diff_id. Returns the uncompressed size.
std::uint64_t decompress_verified(const DockerArchiveLayer& layer, util::Sink& out,
                                  std::optional<std::uint64_t> limit) {
  const std::string name = layer_name(layer);
  const auto compression = media::layer_compression(layer.descriptor.media_type);
  if (compression == media::LayerCompression::Unknown) {
    util::fail(util::ErrorKind::Unsupported,
               "layer " + name + ": media type '" + layer.descriptor.media_type +
                   "' is not a layer type docker-archive export can decompress");
  }
  const auto blob_alg = layer.descriptor.digest.hash_algorithm();
  if (!blob_alg) {
    util::fail(util::ErrorKind::Unsupported, "layer " + name + ": cannot verify its digest algorithm");
  }
  if (!layer.open) {
    util::fail(util::ErrorKind::Internal, "layer " + name + ": no way to open its content");
  }
  std::unique_ptr<util::Source> raw = layer.open();
  if (!raw) {
    util::fail(util::ErrorKind::NotFound, "layer " + name + ": its blob could not be opened");
  }
  HashingSource compressed(*raw, *blob_alg);
  DecompressingSource tar(compressed, compression, name);
  util::Hasher diff_hasher(util::HashAlgorithm::Sha256);
  std::vector<char> buf(k_copy_buffer);
  std::uint64_t total = 0;
  for (;;) {
    const std::size_t n = tar.read(buf.data(), buf.size());
    if (n == 0) {
      break;
    }
    total += n;
    if (limit && total > *limit) {
      util::fail(util::ErrorKind::Corruption,
                 "layer " + name + ": uncompressed content is larger than the expected " +
                     std::to_string(*limit) + " bytes");
    }
    diff_hasher.update(buf.data(), n);
    out.write(buf.data(), n);
  }
  // Drain whatever follows the compressed stream so that the blob digest covers it all.
  while (compressed.read(buf.data(), buf.size()) > 0) {
  }
  if (limit && total != *limit) {
    util::fail(util::ErrorKind::Corruption,
               "layer " + name + ": uncompressed content is " + std::to_string(total) +
                   " bytes, expected " + std::to_string(*limit));
  }
  const Digest blob = Digest::from_hex(*blob_alg, compressed.finish_hex());
  if (blob != layer.descriptor.digest ||
      compressed.count() != static_cast<std::uint64_t>(layer.descriptor.size)) {
    util::fail(util::ErrorKind::Corruption,
               "layer " + name + ": blob content hashes to " + blob.str() + " (" +
                   std::to_string(compressed.count()) + " bytes, expected " +
                   std::to_string(layer.descriptor.size) + "); fetch the blob again");
  }
  const Digest diff_id = Digest::from_hex(util::HashAlgorithm::Sha256, diff_hasher.finish_hex());
  if (diff_id != layer.diff_id) {
    util::fail(util::ErrorKind::Corruption,
               "layer " + name + ": uncompressed content hashes to " + diff_id.str() +
                   ", not to the diff_id the image config names");
  }
  return total;
}

// "name[:tag]" -> the repo and the tag ("latest" when none); validated as a reference.
std::pair<std::string, std::string> split_repo_tag(const std::string& text) {
  Reference ref;
  try {
    ref = Reference::parse(text);
  } catch (const util::Error& e) {
    util::fail(util::ErrorKind::InvalidInput, std::string("docker-archive tag: ") + e.what());
  }
  if (ref.digest) {
    util::fail(util::ErrorKind::InvalidInput,
               "docker-archive tag '" + text + "' has a digest; RepoTags take NAME:TAG only");
  }
  const auto slash = text.rfind('/');
  const auto colon = text.find(':', slash == std::string::npos ? 0 : slash + 1);
  if (colon == std::string::npos) {
    return {text, "latest"};
  }
  return {text.substr(0, colon), text.substr(colon + 1)};
}

}  // namespace

void write_docker_archive(util::Sink& out, const std::string& config_json,
                          const Digest& config_digest,
                          const std::vector<DockerArchiveLayer>& layers,
                          const std::vector<std::string>& repo_tags, std::int64_t mtime) {
  if (config_digest.algorithm() != "sha256") {
    util::fail(util::ErrorKind::Unsupported,
               "docker-archive needs a sha256 config digest, got " + config_digest.str());
  }
  if (Digest::of(config_json) != config_digest) {
    util::fail(util::ErrorKind::Corruption,
               "image config does not hash to " + config_digest.str() + " (it hashes to " +
                   Digest::of(config_json).str() + ")");
  }
  const ImageConfig config = parse_image_config(config_json, config_digest.str());
  bool same_layers = config.diff_ids.size() == layers.size();
  for (std::size_t i = 0; same_layers && i < layers.size(); ++i) {
    same_layers = config.diff_ids[i] == layers[i].diff_id;
  }
  if (!same_layers) {
    util::fail(util::ErrorKind::InvalidInput,
               "image config " + config_digest.str() + " lists " +
                   std::to_string(config.diff_ids.size()) +
                   " diff_ids that do not match the " + std::to_string(layers.size()) +
                   " layers given for the docker-archive");
  }
  for (const auto& layer : layers) {
    if (layer.diff_id.algorithm() != "sha256") {
      util::fail(util::ErrorKind::Unsupported,
                 "docker-archive needs sha256 diff_ids, got " + layer.diff_id.str());
    }
    if (media::layer_compression(layer.descriptor.media_type) ==
        media::LayerCompression::Unknown) {
      util::fail(util::ErrorKind::Unsupported,
                 "layer " + layer_name(layer) + ": media type '" + layer.descriptor.media_type +
                     "' is not a layer type docker-archive export can decompress");
    }
    if (!layer.descriptor.digest.hash_algorithm()) {
      util::fail(util::ErrorKind::Unsupported,
                 "layer " + layer_name(layer) + ": strata cannot verify this digest algorithm");
    }
  }

  nlohmann::json tags = nlohmann::json::array();
  nlohmann::json repositories = nlohmann::json::object();
  for (const auto& t : repo_tags) {
    auto [repo, tag] = split_repo_tag(t);
    tags.push_back(repo + ":" + tag);
    repositories[repo][tag] = config_digest.hex();
  }
  nlohmann::json layer_paths = nlohmann::json::array();
  std::map<std::string, const DockerArchiveLayer*> files;  // blob file hex -> first layer
  for (const auto& layer : layers) {
    layer_paths.push_back("blobs/sha256/" + layer.diff_id.hex());
    files.emplace(layer.diff_id.hex(), &layer);
  }
  files.emplace(config_digest.hex(), nullptr);  // nullptr: the config
  const nlohmann::json manifest = nlohmann::json::array(
      {{{"Config", "blobs/sha256/" + config_digest.hex()},
        {"RepoTags", std::move(tags)},
        {"Layers", std::move(layer_paths)}}});

  TarWriter tar(out);
  const auto header = [&](std::string path, TarType type, std::uint64_t size) {
    TarEntry entry;
    entry.path = std::move(path);
    entry.type = type;
    entry.mode = type == TarType::Directory ? 0755 : 0644;
    entry.mtime = mtime;
    entry.size = size;
    tar.write_header(entry);
  };
  const auto small_file = [&](std::string path, std::string_view content) {
    header(std::move(path), TarType::File, content.size());
    tar.write_content(content.data(), content.size());
  };
  header("blobs", TarType::Directory, 0);
  header("blobs/sha256", TarType::Directory, 0);
  for (const auto& [hex, layer] : files) {
    const std::string path = "blobs/sha256/" + hex;
    if (layer == nullptr) {
      small_file(path, config_json);
      continue;
    }
    if (layer->uncompressed_size) {
      header(path, TarType::File, *layer->uncompressed_size);
      TarContentSink sink(tar);
      decompress_verified(*layer, sink, layer->uncompressed_size);
      continue;
    }
    util::TempDir temp("strata-docker-archive");
    const auto temp_file = temp.path() / "layer.tar";
    std::uint64_t size = 0;
    {
      util::AtomicFile file(temp_file, 0600);
      size = decompress_verified(*layer, file, std::nullopt);
      file.commit();
    }
    header(path, TarType::File, size);
    util::FileSource source(temp_file);
    tar.copy_content(source, size, temp_file.string());
  }
  small_file("manifest.json", manifest.dump());
  if (!repositories.empty()) {
    small_file("repositories", repositories.dump());
  }
  tar.finish();
}

}  // namespace strata::oci
