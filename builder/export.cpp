#include "builder/export.hpp"

#include "oci/docker_archive.hpp"
#include "oci/image.hpp"
#include "oci/layout.hpp"
#include "oci/media_types.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace strata::builder {

void export_oci_layout(const cache::Store& store, const oci::Digest& manifest,
                       const std::filesystem::path& dir, const std::string& ref_name) {
  const std::string manifest_json = store.read_blob(manifest);
  const std::string media_type = oci::detect_media_type(manifest_json, manifest.str());
  if (!oci::media::is_manifest(media_type)) {
    util::fail(util::ErrorKind::Unsupported,
               "image " + manifest.str() + " is " + media_type + ", not a single manifest");
  }
  const oci::Manifest m = oci::parse_manifest(manifest_json, manifest.str());
  oci::LayoutWriter writer(dir);
  auto copy_blob = [&](const oci::Digest& digest) {
    if (!writer.has_blob(digest)) {
      auto source = store.open_blob(digest);
      writer.add_blob(digest, *source);
    }
  };
  for (const auto& layer : m.layers) {
    copy_blob(layer.digest);
  }
  copy_blob(m.config.digest);
  if (!writer.has_blob(manifest)) {
    writer.add_blob(manifest, manifest_json);
  }
  oci::Descriptor descriptor;
  descriptor.media_type = media_type;
  descriptor.digest = manifest;
  descriptor.size = static_cast<std::int64_t>(manifest_json.size());
  writer.add_manifest(descriptor, ref_name);
  writer.commit();
}

void export_docker_archive(const cache::Store& store, const oci::Digest& manifest,
                           const std::filesystem::path& file,
                           const std::vector<std::string>& repo_tags, std::int64_t mtime,
                           const std::map<oci::Digest, std::uint64_t>& uncompressed_sizes) {
  const std::string manifest_json = store.read_blob(manifest);
  const oci::Manifest m = oci::parse_manifest(manifest_json, manifest.str());
  const std::string config_json = store.read_blob(m.config.digest);
  const oci::ImageConfig config = oci::parse_image_config(config_json, m.config.digest.str());
  if (config.diff_ids.size() != m.layers.size()) {
    util::fail(util::ErrorKind::Corruption,
               "image " + manifest.str() + " has " + std::to_string(m.layers.size()) +
                   " layers but its config lists " + std::to_string(config.diff_ids.size()) +
                   " diff_ids");
  }
  std::vector<oci::DockerArchiveLayer> layers;
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    oci::DockerArchiveLayer layer;
    layer.descriptor = m.layers[i];
    layer.diff_id = config.diff_ids[i];
    if (auto it = uncompressed_sizes.find(layer.diff_id); it != uncompressed_sizes.end()) {
      layer.uncompressed_size = it->second;
    }
    const oci::Digest digest = m.layers[i].digest;
    layer.open = [&store, digest] { return store.open_blob(digest); };
    layers.push_back(std::move(layer));
  }
  util::AtomicFile out(file);
  oci::write_docker_archive(out, config_json, m.config.digest, layers, repo_tags, mtime);
  out.commit();
}

}  // namespace strata::builder
