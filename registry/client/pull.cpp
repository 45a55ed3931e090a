// Pull: the reference is resolved to a digest once (GET manifest); every later request
// names digests only, so a tag moved during the pull cannot mix two images. Blobs are
// downloaded in parallel into <store>/tmp/partial-<hex> files (append-only; a retry or a
// later run resumes with "Range: bytes=<size>-"), then streamed into a store BlobWriter
// that verifies the digest before publishing. Unpacking runs after all downloads, layer by
// layer in manifest order, from the store.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "oci/media_types.hpp"
#include "oci/unpacker.hpp"
#include "registry/client/transfer.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/units.hpp"

namespace strata::registry::client {
namespace {

namespace fs = std::filesystem;
using util::ErrorKind;

void prepare_unpack_dir(const fs::path& dir, bool force) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) {
      util::fail(ErrorKind::InvalidInput, dir.string() + " exists and is not a directory");
    }
    if (!force && fs::directory_iterator(dir, ec) != fs::directory_iterator()) {
      util::fail(ErrorKind::InvalidInput,
                 dir.string() + " is not empty; unpack into an empty directory or pass --force "
                                "to apply the layers on top of what is there");
    }
    return;
  }
  fs::create_directories(dir, ec);
  if (ec) {
    util::fail(ErrorKind::IO, "cannot create " + dir.string() + ": " + ec.message());
  }
}

}  // namespace

std::string store_tag_for(const oci::Reference& reference) {
  const std::string name = reference.registry + "/" + reference.repository;
  if (!reference.tag.empty()) {
    return name + ":" + reference.tag;
  }
  return name + ":" + reference.digest->algorithm() + "-" + reference.digest->hex();
}

oci::Descriptor pick_platform(const oci::Index& index, const oci::Platform& platform,
                              const std::string& what) {
  std::string offered;
  for (const auto& d : index.manifests) {
    if (!d.platform) {
      continue;
    }
    offered += (offered.empty() ? "" : ", ") + d.platform->str();
    if (d.platform->os == platform.os && d.platform->architecture == platform.architecture &&
        (platform.variant.empty() || d.platform->variant == platform.variant) &&
        oci::media::is_manifest(d.media_type)) {
      return d;
    }
  }
  util::fail(ErrorKind::NotFound, what + " has no image for " + platform.str() +
                                      " (it offers: " + (offered.empty() ? "none" : offered) +
                                      "); choose one with --platform");
}

bool download_blob(RegistryClient& client, const std::string& repo,
                   const oci::Descriptor& descriptor, cache::Store& store) {
  const oci::Digest& digest = descriptor.digest;
  if (store.has_blob(digest)) {
    store.touch_blob(digest);
    return false;
  }
  const auto expected = static_cast<std::uint64_t>(descriptor.size);
  const fs::path partial = store.root() / "tmp" / ("partial-" + digest.hex());
  // The partial file is locked for the whole download so that two processes pulling the
  // same blob take turns; the second then finds the blob in the store.
  util::Fd fd(::open(partial.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!fd) {
    util::fail_errno("open " + partial.string());
  }
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) {
      util::fail_errno("lock " + partial.string());
    }
  }
  if (store.has_blob(digest)) {
    store.touch_blob(digest);
    return false;
  }
  client.with_retries("download of " + digest.str(), [&] {
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
      util::fail_errno("stat " + partial.string());
    }
    const auto have = static_cast<std::uint64_t>(st.st_size);
    if (have > expected) {
      if (::ftruncate(fd.get(), 0) != 0) {
        util::fail_errno("truncate " + partial.string());
      }
      util::fail(ErrorKind::Timeout, "partial download of " + digest.str() +
                                         " is longer than the blob; starting again");
    }
    if (have < expected || expected == 0) {
      util::FdSink sink(fd.get(), partial.string());
      client.fetch_blob(repo, digest, sink, have);
    }
  });
  std::error_code ec;
  const auto got = fs::file_size(partial, ec);
  if (ec || got != expected) {
    fs::remove(partial, ec);
    util::fail(ErrorKind::Corruption, "blob " + digest.str() + " from " + client.registry() +
                                          "/" + repo + " has " + std::to_string(got) +
                                          " bytes, the manifest says " + std::to_string(expected));
  }
  try {
    auto writer = store.begin_blob(descriptor.media_type,
                                   digest.hash_algorithm().value_or(util::HashAlgorithm::Sha256));
    util::FileSource source(partial);
    util::copy_stream(source, writer);
    writer.commit(digest);
  } catch (const util::Error& e) {
    if (e.kind() == ErrorKind::Corruption) {
      fs::remove(partial, ec);
      util::fail(ErrorKind::Corruption, "blob " + digest.str() + " downloaded from " +
                                            client.registry() + "/" + repo +
                                            " does not match its digest; nothing was stored (" +
                                            e.what() + ")");
    }
    throw;
  }
  fs::remove(partial, ec);
  return true;
}

PullResult pull_image(RegistryClient& client, const oci::Reference& reference,
                      cache::Store& store, const PullOptions& options) {
  const std::string& repo = reference.repository;
  const std::string what = reference.str();
  client.add_scope(repo, "pull");
  if (options.unpack_dir) {
    prepare_unpack_dir(*options.unpack_dir, options.force);
  }
  const auto top = client.get_manifest(repo, reference.identifier());
  if (!top) {
    util::fail(ErrorKind::NotFound, what + ": no such manifest in the registry (check the "
                                           "repository and tag with `strata tags`)");
  }
  if (reference.digest && !reference.tag.empty() && top->digest != *reference.digest) {
    util::fail(ErrorKind::Corruption,
               what + ": the tag resolves to " + top->digest.str() + ", not the pinned digest");
  }
  PullResult result;
  result.digest = top->digest;
  result.media_type = top->media_type;
  std::string manifest_bytes = top->bytes;
  std::string manifest_type = top->media_type;
  result.manifest = top->digest;
  if (oci::media::is_index(top->media_type)) {
    store.put_blob(top->bytes, top->media_type);
    const oci::Index index = oci::parse_index(top->bytes, what);
    const auto d = pick_platform(index, options.platform.value_or(oci::Platform::host()), what);
    const auto child = client.get_manifest(repo, d.digest.str());
    if (!child) {
      util::fail(ErrorKind::NotFound, what + ": the index lists " + d.digest.str() +
                                          " but the registry does not have it");
    }
    manifest_bytes = child->bytes;
    manifest_type = child->media_type;
    result.manifest = child->digest;
  } else if (!oci::media::is_manifest(top->media_type)) {
    util::fail(ErrorKind::Unsupported, what + " is a " + top->media_type + ", not an image");
  }
  const oci::Manifest manifest = oci::parse_manifest(manifest_bytes, result.manifest.str());
  std::vector<oci::Descriptor> blobs{manifest.config};
  blobs.insert(blobs.end(), manifest.layers.begin(), manifest.layers.end());
  std::mutex mutex;
  parallel_for(blobs.size(), options.jobs, [&](std::size_t i) {
    const bool fetched = download_blob(client, repo, blobs[i], store);
    std::lock_guard lock(mutex);
    ++(fetched ? result.downloaded : result.reused);
    if (fetched && options.progress) {
      options.progress("pulled " + blobs[i].digest.str() + " (" +
                       util::format_size(static_cast<std::uint64_t>(blobs[i].size)) + ")");
    }
  });
  // The manifest goes in after its blobs, so a stored manifest always has them.
  store.put_blob(manifest_bytes, manifest_type);
  result.tag = options.store_tag.empty() ? store_tag_for(reference) : options.store_tag;
  store.set_tag(cache::TagRecord{result.tag, result.manifest, manifest_type, 0});

  if (options.unpack_dir) {
    oci::UnpackOptions unpack;
    unpack.preserve_owners = ::geteuid() == 0;
    for (const auto& layer : manifest.layers) {
      auto source = store.open_blob(layer.digest);
      oci::unpack_layer(*options.unpack_dir, *source, layer.media_type, layer.digest, unpack);
    }
  }
  return result;
}

}  // namespace strata::registry::client
