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
#include <functional>
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

/// The store. One instance per process is typical; methods are thread-safe (one SQLite
/// connection behind a mutex); several processes may share a root (SQLite locking and
/// atomic renames). Throws util::Error: NotFound, Corruption, IO, Timeout (database busy).
class Store {
 public:
  struct Options {
    /// The clock for last_used/created/updated times (Unix seconds); empty = the system
    /// clock. Must be thread-safe. Tests use it to age blobs.
    std::function<std::int64_t()> clock;
    /// fsync blob files and their directory before publishing (the default). false is for
    /// throwaway stores (tests, ephemeral CI runners): after a power cut some blobs may be
    /// truncated; `strata cache verify` then removes them.
    bool fsync = true;
  };
  /// Opens (creating if needed) the store at `root`: creates blobs/, tmp/ and strata.db,
  /// migrates the schema, sweeps temp files older than an hour. Throws IO, Timeout, or
  /// Unsupported (a store written by a newer strata).
  explicit Store(std::filesystem::path root);
  Store(std::filesystem::path root, Options options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// $STRATA_HOME, else $XDG_CACHE_HOME/strata, else ~/.cache/strata; for root with none
  /// of these set, /var/lib/strata. Throws InvalidInput when nothing applies.
  static std::filesystem::path default_root();

  /// Removes files in <root>/tmp whose last change is older than `older_than` seconds and
  /// that no live BlobWriter holds (crashed writes, GC leftovers). Runs with the default
  /// on open. Returns how many were removed. Thread-safe.
  std::size_t sweep_temp(std::int64_t older_than = 3600);

  [[nodiscard]] const std::filesystem::path& root() const noexcept;
  [[nodiscard]] std::filesystem::path blob_path(const oci::Digest& digest) const;
  /// True when the blob's file is present. Does not refresh its last use: a caller that
  /// reuses an existing blob (skips a download) calls touch_blob so that GC keeps it.
  [[nodiscard]] bool has_blob(const oci::Digest& digest) const;

  /// Starts streaming a new blob (see BlobWriter). The writer must not outlive the store.
  BlobWriter begin_blob(std::string media_type,
                        util::HashAlgorithm algorithm = util::HashAlgorithm::Sha256);
  /// Publishes an existing, complete file as blob `digest` without copying it: the caller
  /// has hashed the file's content to `digest` (this is not re-checked) and must not write
  /// to it any more. The file is made read-only, fsynced (unless Options::fsync is off) and
  /// renamed into blobs/ (or removed when an intact copy is already there); its row is
  /// recorded like a BlobWriter's. `file` must be on the store's filesystem: check with
  /// same_filesystem(), else throws IO (EXDEV) and leaves the file where it is. For servers
  /// that hash uploads while they arrive (registry). Thread-safe.
  void adopt_blob(const std::filesystem::path& file, const oci::Digest& digest,
                  const std::string& media_type);
  /// True when `path` (an existing file or directory) is on the filesystem of blobs/, so
  /// that adopt_blob() can rename it into place.
  [[nodiscard]] bool same_filesystem(const std::filesystem::path& path) const;
  /// Stores a blob held in memory (sha256); storing existing content only refreshes its
  /// last use. The first non-empty media type recorded for a digest is kept.
  oci::Digest put_blob(std::string_view data, std::string media_type);
  /// Reads a whole blob (for small JSON documents) and checks its digest. Throws NotFound
  /// naming the digest, or Corruption when the file does not hash to it.
  std::string read_blob(const oci::Digest& digest) const;
  /// Opens a blob for streaming (not re-hashed: the caller verifies if it must). NotFound.
  std::unique_ptr<util::Source> open_blob(const oci::Digest& digest) const;
  /// The blob's row, if the blob is present.
  std::optional<BlobInfo> blob_info(const oci::Digest& digest) const;
  /// Every blob row, ordered by digest (rows whose file is missing included; verify drops
  /// them).
  std::vector<BlobInfo> list_blobs() const;
  /// Records a use of the blob now (GC keeps recently used blobs). NotFound if absent.
  void touch_blob(const oci::Digest& digest);

  // Build cache.
  /// The cache entry for `key`, if its blob is still present (an entry whose blob file is
  /// gone is deleted and nullopt returned). A hit refreshes the blob's last use, which
  /// protects it from a concurrent GC for the grace period.
  std::optional<LayerRecord> find_layer(const std::string& key);
  /// Records (or replaces) a cache entry; the blob must be in the store (NotFound), and
  /// its last use is refreshed.
  void put_layer(const LayerRecord& record);
  /// All cache entries, ordered by key.
  std::vector<LayerRecord> list_layers() const;

  /// What stat(2) said about a build-input file when its content was hashed. A file whose
  /// stat is unchanged is taken to have unchanged content (as git's index and BuildKit's
  /// content-hash cache do); callers record only files whose mtime is at least a few
  /// seconds old, so a write within the same timestamp tick cannot go unnoticed.
  struct FileDigest {
    std::string path;  // absolute, real
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    std::string sha256;  // hex
  };
  /// Every recorded input digest whose path starts with `prefix` (one query).
  std::vector<FileDigest> load_file_digests(const std::string& prefix) const;
  /// Records input digests (one transaction), replacing older records of the same paths.
  void put_file_digests(const std::vector<FileDigest>& digests);

  // Tags (roots for GC).
  /// Creates or moves a tag. The manifest must be in the store (NotFound); an empty
  /// media_type is taken from the blob's row, updated == 0 means now.
  void set_tag(const TagRecord& tag);
  std::optional<TagRecord> find_tag(const std::string& name) const;
  /// All tags, ordered by name.
  std::vector<TagRecord> list_tags() const;
  /// Removes a tag (NotFound if there is none); its blobs become collectable.
  void remove_tag(const std::string& name);

  /// Referenced blobs of a manifest or index stored here (config, layers, children),
  /// recursively, each once, without `manifest` itself. A child manifest the store does
  /// not hold is listed but not descended into. Throws NotFound when `manifest` is absent,
  /// InvalidInput when a present manifest does not parse.
  std::vector<oci::Digest> referenced_blobs(const oci::Digest& manifest) const;

  struct GcOptions {
    std::optional<std::uint64_t> max_bytes;  // keep total blob size under this
    std::optional<std::int64_t> max_age;     // seconds since last use
    bool dry_run = false;
    /// A blob written or used less than this many seconds ago is never removed, so that a
    /// build running concurrently keeps what it has just written or found in the cache.
    std::int64_t grace = 600;
    /// The time GC considers "now" (Unix seconds); unset = the store's clock.
    std::optional<std::int64_t> now;
  };
  struct GcResult {
    std::uint64_t removed_blobs = 0;
    std::uint64_t removed_bytes = 0;
    std::uint64_t kept_blobs = 0;
    std::uint64_t kept_bytes = 0;
    std::vector<BlobInfo> removed;  // what was (dry_run: would be) removed, oldest first
    std::uint64_t registered = 0;   // files on disk without a row, registered first
  };
  /// Removes unreferenced blobs (not reachable from a tag) that are older than max_age or,
  /// oldest first, until the store fits max_bytes; drops cache entries of removed blobs.
  /// With neither limit set, every unreferenced blob outside the grace period goes. Blobs
  /// used within `grace` seconds are kept whatever the limits. Runs in one write
  /// transaction (other writers wait); see gc.cpp. Throws Corruption, removing nothing,
  /// when a tagged manifest cannot be read.
  GcResult gc(const GcOptions& options);

  /// One blob that verify() found bad and removed.
  struct VerifyIssue {
    oci::Digest digest;
    std::string reason;  // "content hashes to sha256:...", "file is missing", ...
  };
  struct VerifyResult {
    std::uint64_t checked = 0;
    std::vector<oci::Digest> bad;  // removed from the store
    std::uint64_t checked_bytes = 0;
    std::vector<VerifyIssue> issues;           // parallel to `bad`, with the reason
    std::vector<oci::Digest> registered;       // intact files that had no row, now recorded
    std::vector<std::filesystem::path> stray;  // unexpected files under blobs/, left alone
  };
  /// Re-hashes every blob; a bad one is removed with its cache entries. Rows whose file is
  /// missing are dropped (reported as bad); intact files without a row are registered.
  /// Hashing runs without holding the database lock. Thread-safe.
  VerifyResult verify();

 private:
  friend class BlobWriter;  // writers publish through the store's state
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace strata::cache
