// Pull: the reference is resolved to a digest once (GET manifest); every later request
// names digests only, so a tag moved during the pull cannot mix two images. Blobs are
// downloaded in parallel into <store>/tmp/partial-<hex> files (append-only; a retry or a
// later run resumes with "Range: bytes=<size>-"), hashed as they arrive, and the verified
// partial file is renamed into the store (Store::adopt_blob) — no second copy.
//
// With --unpack the layers are applied while they download: every blob downloads in
// parallel as above, and the calling thread applies layer 1, 2, ... in manifest order,
// each read from its growing partial file through a LayerFeed (stream_feed.hpp) or from
// the store when it is already there. The unpacker may run ahead of the digest check; a
// mismatch fails the pull with Corruption naming the layer, and the unpack directory is
// then incomplete (documented in docs/client.md). Nothing unverified enters the store.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>
#include <exception>
#include <functional>
#include <memory>
#include <thread>

#include "oci/media_types.hpp"
#include "oci/unpacker.hpp"
#include "registry/client/stream_feed.hpp"
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

namespace {

// Hashes the first `size` bytes of the partial file into a fresh hasher (a download that
// resumes a file another attempt or process began).
util::Hasher hash_prefix(int fd, std::uint64_t size, util::HashAlgorithm algorithm,
                         const fs::path& partial) {
  util::Hasher hasher(algorithm);
  std::vector<char> buffer(1 << 20);
  std::uint64_t pos = 0;
  while (pos < size) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), size - pos));
    const ssize_t n = ::pread(fd, buffer.data(), want, static_cast<off_t>(pos));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      util::fail_errno("read " + partial.string());
    }
    hasher.update(buffer.data(), static_cast<std::size_t>(n));
    pos += static_cast<std::uint64_t>(n);
  }
  return hasher;
}

bool download_locked(RegistryClient& client, const std::string& repo,
                     const oci::Descriptor& descriptor, cache::Store& store, LayerFeed* feed) {
  const oci::Digest& digest = descriptor.digest;
  if (store.has_blob(digest)) {
    store.touch_blob(digest);
    return false;
  }
  const auto expected = static_cast<std::uint64_t>(descriptor.size);
  const auto algorithm = digest.hash_algorithm().value_or(util::HashAlgorithm::Sha256);
  const fs::path partial = store.root() / "tmp" / ("partial-" + digest.hex());
  // The partial file is locked for the whole download so that two processes pulling the
  // same blob take turns; the second then finds the blob in the store.
  util::Fd fd(::open(partial.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
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
  util::Hasher hasher(algorithm);
  std::uint64_t hashed = 0;  // bytes of the file that `hasher` has seen
  bool announced = false;
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
      hashed = 0;
      hasher = util::Hasher(algorithm);
      util::fail(ErrorKind::Timeout, "partial download of " + digest.str() +
                                         " is longer than the blob; starting again");
    }
    if (hashed != have) {
      hasher = hash_prefix(fd.get(), have, algorithm, partial);
      hashed = have;
    }
    if (feed != nullptr && !announced) {
      util::Fd reader(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
      if (!reader) {
        util::fail_errno("dup " + partial.string());
      }
      feed->started(std::move(reader), have);
      announced = true;
    }
    if (have < expected || expected == 0) {
      FeedingSink sink(fd.get(), partial.string(), hasher, hashed, expected, feed);
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
  if (hashed != got) {
    hasher = hash_prefix(fd.get(), got, algorithm, partial);
  }
  const std::string hex = hasher.finish_hex();
  if (hex != digest.hex()) {
    fs::remove(partial, ec);
    util::fail(ErrorKind::Corruption,
               "blob " + digest.str() + " downloaded from " + client.registry() + "/" + repo +
                   " does not match its digest (its content hashes to " + hex +
                   "); nothing was stored");
  }
  // The verified partial file becomes the blob without another copy.
  store.adopt_blob(partial, digest, descriptor.media_type);
  return true;
}

}  // namespace

bool download_blob_fed(RegistryClient& client, const std::string& repo,
                       const oci::Descriptor& descriptor, cache::Store& store, LayerFeed* feed) {
  try {
    const bool fetched = download_locked(client, repo, descriptor, store, feed);
    if (feed != nullptr) {
      feed->stored();
    }
    return fetched;
  } catch (...) {
    if (feed != nullptr) {
      feed->failed(std::current_exception());
    }
    throw;
  }
}

bool download_blob(RegistryClient& client, const std::string& repo,
                   const oci::Descriptor& descriptor, cache::Store& store) {
  return download_blob_fed(client, repo, descriptor, store, nullptr);
}

namespace {

// Downloads blobs[0] (the config) and the layers blobs[1..] in parallel while this thread
// applies the layers in manifest order, each one streamed from its growing partial file
// (LayerFeed) as soon as the previous layer is applied. An unpack error cancels the
// downloads still running; every error names the layer and says that the directory is
// incomplete.
void download_and_unpack(RegistryClient& client, const std::string& repo,
                         const std::vector<oci::Descriptor>& blobs, cache::Store& store,
                         const PullOptions& options,
                         const std::function<void(std::size_t, bool)>& note) {
  std::vector<std::unique_ptr<LayerFeed>> feeds;
  for (std::size_t i = 0; i < blobs.size(); ++i) {
    feeds.push_back(std::make_unique<LayerFeed>());
  }
  std::exception_ptr download_error;
  std::thread downloader([&] {
    try {
      parallel_for(blobs.size(), std::max<std::size_t>(options.jobs, 1), [&](std::size_t i) {
        if (feeds[i]->cancelled()) {
          util::fail(ErrorKind::Conflict, "download stopped: the pull was abandoned");
        }
        note(i, download_blob_fed(client, repo, blobs[i], store, feeds[i].get()));
      });
    } catch (...) {
      download_error = std::current_exception();
    }
    // Blobs that never started (a failure stopped the queue) fail their readers too.
    for (auto& feed : feeds) {
      feed->failed(download_error ? download_error
                                  : std::make_exception_ptr(util::Error(
                                        ErrorKind::Internal, "blob was not downloaded")));
    }
  });
  const std::size_t layers = blobs.size() - 1;
  const fs::path& dir = *options.unpack_dir;
  oci::UnpackOptions unpack;
  unpack.preserve_owners = ::geteuid() == 0;
  std::size_t i = 1;
  try {
    for (; i < blobs.size(); ++i) {
      auto source = feeds[i]->open(store, blobs[i].digest);
      oci::unpack_layer(dir, *source, blobs[i].media_type, blobs[i].digest, unpack);
      // The unpacker reads to the end, so the digest is checked by now; this also
      // catches a failure the unpacker did not need to see.
      feeds[i]->wait_stored();
    }
  } catch (const util::Error& unpack_error) {
    for (std::size_t j = 0; j < feeds.size(); ++j) {
      if (j != i) {
        feeds[j]->cancel();
      }
    }
    // A corrupt blob can make the unpacker fail before the digest is checked: when the
    // layer's download fails too, its error (Corruption) is the cause to report.
    util::Error e = unpack_error;
    try {
      feeds[i]->wait_stored();
    } catch (const util::Error& download_failure) {
      e = download_failure;
    } catch (...) {
    }
    downloader.join();
    util::fail(e.kind(), "layer " + std::to_string(i) + " of " + std::to_string(layers) + " (" +
                             blobs[i].digest.str() + "): " + e.what() + "; " + dir.string() +
                             " is incomplete: remove it before pulling again");
  } catch (...) {
    for (auto& feed : feeds) {
      feed->cancel();
    }
    downloader.join();
    throw;
  }
  downloader.join();
  if (download_error) {
    std::rethrow_exception(download_error);  // the config
  }
}

}  // namespace

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
  const auto note = [&](std::size_t i, bool fetched) {
    std::lock_guard lock(mutex);
    ++(fetched ? result.downloaded : result.reused);
    if (fetched && options.progress) {
      options.progress("pulled " + blobs[i].digest.str() + " (" +
                       util::format_size(static_cast<std::uint64_t>(blobs[i].size)) + ")");
    }
  };
  if (options.unpack_dir) {
    download_and_unpack(client, repo, blobs, store, options, note);
  } else {
    parallel_for(blobs.size(), options.jobs, [&](std::size_t i) {
      note(i, download_blob(client, repo, blobs[i], store));
    });
  }
  // The manifest goes in after its blobs, so a stored manifest always has them.
  store.put_blob(manifest_bytes, manifest_type);
  result.tag = options.store_tag.empty() ? store_tag_for(reference) : options.store_tag;
  store.set_tag(cache::TagRecord{result.tag, result.manifest, manifest_type, 0});
  return result;
}

}  // namespace strata::registry::client
