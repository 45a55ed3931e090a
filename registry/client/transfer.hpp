// Whole-image transfers between a registry and local storage: push (blobs first, skipping
// what the registry has, mounting across repositories, uploading in parallel, manifest
// last with its exact bytes) and pull (resolve the reference once, pick a platform from an
// index, download config and layers in parallel into the store with digest verification
// and Range resume, tag the result, optionally unpack the layers in order).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cache/store.hpp"
#include "oci/image.hpp"
#include "oci/layout.hpp"
#include "oci/reference.hpp"
#include "registry/client/client.hpp"

namespace strata::registry::client {

/// Where the blobs of a local image are read from. Implementations must allow open() and
/// read() from several threads at once.
class BlobSource {
 public:
  virtual ~BlobSource() = default;
  /// A stream over the blob. Throws NotFound naming the digest.
  virtual std::unique_ptr<util::Source> open(const oci::Digest& digest) = 0;
  /// A whole (small) blob, verified. Throws NotFound / Corruption.
  virtual std::string read(const oci::Digest& digest) = 0;
};

/// Blobs of the local store (not owned; must outlive this object).
class StoreBlobs final : public BlobSource {
 public:
  explicit StoreBlobs(cache::Store& store) : m_store(store) {}
  std::unique_ptr<util::Source> open(const oci::Digest& digest) override;
  std::string read(const oci::Digest& digest) override;

 private:
  cache::Store& m_store;
};

/// Blobs of an OCI image layout directory (the reader is not owned).
class LayoutBlobs final : public BlobSource {
 public:
  explicit LayoutBlobs(const oci::LayoutReader& layout) : m_layout(layout) {}
  std::unique_ptr<util::Source> open(const oci::Digest& digest) override;
  std::string read(const oci::Digest& digest) override;

 private:
  const oci::LayoutReader& m_layout;
};

/// Progress messages for humans ("pushed sha256:... (12.3 MiB)"); may be empty. Called
/// from worker threads, serialised by the caller of the transfer.
using ProgressFn = std::function<void(const std::string&)>;

struct PushOptions {
  std::size_t jobs = 4;                 // blobs uploaded at once
  std::vector<std::string> mount_from;  // repositories of the same registry to mount from
  ProgressFn progress;
};

struct PushResult {
  oci::Digest digest;  // of the pushed manifest or index
  std::string media_type;
  std::uint64_t uploaded = 0;  // blobs uploaded
  std::uint64_t skipped = 0;   // blobs the repository already had
  std::uint64_t mounted = 0;   // blobs mounted from another repository
};

/// Pushes a manifest or index (its exact bytes) and everything it references from `blobs`
/// to `repo`, then tags it `tag` (empty: push by digest only). For an index, each child
/// manifest is pushed by digest before the index. Thread-safe for distinct pushes.
PushResult push_image(RegistryClient& client, const std::string& repo, const std::string& tag,
                      const std::string& manifest_bytes, const std::string& media_type,
                      BlobSource& blobs, const PushOptions& options);

struct PullOptions {
  std::optional<oci::Platform> platform;  // default: oci::Platform::host()
  std::size_t jobs = 4;                   // blobs downloaded at once
  std::optional<std::filesystem::path> unpack_dir;  // also unpack the layers here
  bool force = false;                     // unpack into a non-empty directory
  std::string store_tag;                  // tag to set (empty: store_tag_for(reference))
  ProgressFn progress;
};

struct PullResult {
  oci::Digest digest;    // what the reference resolved to (manifest or index)
  std::string media_type;
  oci::Digest manifest;  // the image manifest (the platform's, for an index)
  std::string tag;       // the store tag that was set
  std::uint64_t downloaded = 0;  // blobs downloaded
  std::uint64_t reused = 0;      // blobs already in the store
};

/// The store tag a pulled reference gets: "registry/repository:tag", or for a digest-only
/// reference "registry/repository:sha256-<hex>".
std::string store_tag_for(const oci::Reference& reference);

/// Pulls `reference` into `store`. Every blob is verified against its digest before it is
/// stored (Corruption otherwise, nothing stored). An interrupted download resumes from
/// a partial file <store>/tmp/partial-<hex> with a Range request. With unpack_dir, the
/// directory must be empty or missing (InvalidInput) unless force.
PullResult pull_image(RegistryClient& client, const oci::Reference& reference,
                      cache::Store& store, const PullOptions& options);

/// Downloads one blob into the store (resuming a partial file, verifying). Returns true
/// when it was downloaded, false when the store already had it.
bool download_blob(RegistryClient& client, const std::string& repo,
                   const oci::Descriptor& descriptor, cache::Store& store);

/// Picks the manifest for `platform` from an index (os, architecture and, when given,
/// variant must match). Throws NotFound listing the platforms the index offers.
oci::Descriptor pick_platform(const oci::Index& index, const oci::Platform& platform,
                              const std::string& what);

/// Runs fn(i) for i in [0, count) on up to `jobs` threads; rethrows the first error after
/// all threads stopped (no new items start after a failure).
void parallel_for(std::size_t count, std::size_t jobs, const std::function<void(std::size_t)>& fn);

}  // namespace strata::registry::client
