// Private to cache/: the state behind cache::Store, shared by store.cpp, blob_writer.cpp,
// gc.cpp and verify.cpp. Not part of the public API.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cache/database.hpp"
#include "cache/store.hpp"

namespace strata::cache {

struct Store::Impl {
  std::filesystem::path root;
  std::filesystem::path tmp;  // <root>/tmp
  std::mutex mutex;           // guards db (one connection per Store)
  std::unique_ptr<Database> db;
  std::function<std::int64_t()> clock;  // never empty
  bool fsync = true;                    // Options::fsync

  [[nodiscard]] std::int64_t now() const { return clock(); }

  /// <root>/blobs/<alg>/<hex>; throws InvalidInput for an empty digest.
  [[nodiscard]] std::filesystem::path blob_path(const oci::Digest& digest) const;
  /// Inserts or refreshes a blob row (last_used = now). Caller holds mutex, in a txn.
  void upsert_blob(const oci::Digest& digest, std::uint64_t size, const std::string& media_type,
                   std::int64_t now);
  /// Deletes a blob row and the layer rows pointing at it. Caller holds mutex, in a txn.
  void delete_blob_rows(const oci::Digest& digest);
  /// A file found under blobs/.
  struct BlobFile {
    oci::Digest digest;
    std::filesystem::path path;
    struct stat st {};
  };
  /// Lists the files under blobs/sha256 and blobs/sha512; names that are not a valid digest
  /// go to `stray` (when given). No lock needed.
  std::vector<BlobFile> scan_blob_files(std::vector<std::filesystem::path>* stray) const;
  /// Removes files changed more than `older_than` seconds ago and not locked by a live
  /// writer from tmp/; returns how many.
  std::size_t sweep_tmp(std::int64_t older_than) noexcept;
};

/// Unix seconds now.
std::int64_t unix_now() noexcept;

/// Moves blob files out of blobs/ into tmp/ while a transaction is open, so that the
/// removal of a blob's row and file are one step as far as other processes can tell:
/// every publisher of a blob holds the database write lock too, so nobody can see the
/// row gone and the file still there, or re-publish in between. After a successful
/// commit, purge() unlinks the moved files; if the transaction fails, restore() puts them
/// back. Destruction without either restores. Not thread-safe.
class BlobTrash {
 public:
  explicit BlobTrash(std::filesystem::path tmp_dir) : m_tmp(std::move(tmp_dir)) {}
  BlobTrash(const BlobTrash&) = delete;
  BlobTrash& operator=(const BlobTrash&) = delete;
  ~BlobTrash() { restore(); }

  /// Moves `blob` into the trash; returns false (and does nothing) if it does not exist.
  bool move(const std::filesystem::path& blob);
  /// Unlinks everything moved; never throws.
  void purge() noexcept;
  /// Moves everything back; never throws.
  void restore() noexcept;

 private:
  std::filesystem::path m_tmp;
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> m_moved;  // from, to
};

/// A random lower-case alphanumeric name part.
std::string random_token();

}  // namespace strata::cache
