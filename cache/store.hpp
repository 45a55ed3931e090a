// The content-addressed store: $STRATA_HOME/blobs/<alg>/<hex> plus SQLite metadata.
//
// Layout:
//   <root>/blobs/sha256/<hex>   every blob, immutable once present
//   <root>/tmp/                 in-progress writes (same filesystem as blobs/)
//   <root>/strata.db            SQLite, WAL mode, busy timeout
// A blob is written to tmp/, fsynced, verified, and renamed into place, so a reader never
// sees a partial blob. Several processes may use one store at once: blob writes are
// idempotent renames and every metadata change is a short SQLite transaction.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oci/digest.hpp"
#include "util/io.hpp"

namespace strata::cache {

class Database;

struct BlobInfo {
  oci::Digest digest;
  std::uint64_t size = 0;
  std::string media_type;
  std::int64_t last_used = 0;  // Unix seconds
};

/// A cached layer: the result of building one layer with a given cache key.
struct LayerRecord {
  std::string key;  // hex sha256 cache key
  oci::Digest diff_id;
  oci::Digest blob;
  std::uint64_t size = 0;
  std::string media_type;
  std::string created_by;  // human description for the image history
};

/// A tagged image: a name pointing at a manifest in the store.
struct TagRecord {
  std::string name;
  oci::Digest manifest;
  std::string media_type;
  std::int64_t updated = 0;
};

class Store;

/// Streams a new blob into the store. write() the bytes, then commit() hashes, verifies
/// and publishes it. Destroying without commit discards the temp file. Not thread-safe.
class BlobWriter final : public util::Sink {
 public:
  using Sink::write;
  void write(const void* data, std::size_t size) override;
  /// Publishes the blob. If `expected` is given and differs, throws Corruption and stores
  /// nothing. Records media type and size in the database.
  oci::Digest commit(const std::optional<oci::Digest>& expected = std::nullopt);
  [[nodiscard]] std::uint64_t size() const noexcept;
  ~BlobWriter() override;
  BlobWriter(BlobWriter&&) noexcept;

 private:
  friend class Store;
  struct Impl;
  explicit BlobWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

/// The store. One instance per process is typical; methods are thread-safe.
class Store {
 public:
  /// Opens (creating if needed) the store at `root`.
  explicit Store(std::filesystem::path root);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// $STRATA_HOME, else $XDG_CACHE_HOME/strata, else ~/.cache/strata.
  static std::filesystem::path default_root();

  [[nodiscard]] const std::filesystem::path& root() const noexcept;
  [[nodiscard]] std::filesystem::path blob_path(const oci::Digest& digest) const;
  [[nodiscard]] bool has_blob(const oci::Digest& digest) const;

  BlobWriter begin_blob(std::string media_type,
                        util::HashAlgorithm algorithm = util::HashAlgorithm::Sha256);
  oci::Digest put_blob(std::string_view data, std::string media_type);
  /// Reads a whole blob (for small JSON documents). Throws NotFound naming the digest.
  std::string read_blob(const oci::Digest& digest) const;
  /// Opens a blob for streaming.
  std::unique_ptr<util::Source> open_blob(const oci::Digest& digest) const;
  std::optional<BlobInfo> blob_info(const oci::Digest& digest) const;
  std::vector<BlobInfo> list_blobs() const;
  void touch_blob(const oci::Digest& digest);

  // Build cache.
  std::optional<LayerRecord> find_layer(const std::string& key);  // also checks the blob exists
  void put_layer(const LayerRecord& record);

  // Tags (roots for GC).
  void set_tag(const TagRecord& tag);
  std::optional<TagRecord> find_tag(const std::string& name) const;
  std::vector<TagRecord> list_tags() const;
  void remove_tag(const std::string& name);

  /// Referenced blobs of a manifest or index stored here (config, layers, children),
  /// recursively; missing children are skipped.
  std::vector<oci::Digest> referenced_blobs(const oci::Digest& manifest) const;

  struct GcOptions {
    std::optional<std::uint64_t> max_bytes;  // keep total blob size under this
    std::optional<std::int64_t> max_age;     // seconds since last use
    bool dry_run = false;
  };
  struct GcResult {
    std::uint64_t removed_blobs = 0;
    std::uint64_t removed_bytes = 0;
    std::uint64_t kept_blobs = 0;
    std::uint64_t kept_bytes = 0;
  };
  /// Removes unreferenced blobs (not reachable from a tag) that are older than max_age or,
  /// oldest first, until the store fits max_bytes; drops cache entries of removed blobs.
  GcResult gc(const GcOptions& options);

  struct VerifyResult {
    std::uint64_t checked = 0;
    std::vector<oci::Digest> bad;  // removed from the store
  };
  /// Re-hashes every blob; a bad one is removed with its cache entries.
  VerifyResult verify();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace strata::cache
