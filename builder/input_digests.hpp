// Cached digests of build-input files, so that a no-op rebuild does not read every file.
//
// A layer's cache key includes the sha256 of every file it copies. Hashing a 1 GB build
// context on every build would make "nothing changed" cost seconds, so the store keeps
// (real path, dev, inode, size, mtime, ctime) -> sha256 records. A file whose stat matches
// a record is not read again. Records are written only for files whose mtime is at least
// k_stable_seconds old: a file written within the same timestamp tick as the record could
// otherwise change again without changing its stat ("racily clean" in git's terms).
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/store.hpp"

namespace strata::builder {

/// Looks up and records input digests in a store. Not thread-safe; one per build.
class InputDigests {
 public:
  static constexpr std::int64_t k_stable_seconds = 2;

  explicit InputDigests(cache::Store& store) : m_store(store) {}
  InputDigests(const InputDigests&) = delete;
  InputDigests& operator=(const InputDigests&) = delete;
  /// Writes pending records; never throws (a lost record only costs a re-hash later).
  ~InputDigests();

  /// Loads the records of every file under `dir` (a build context's real path) with one
  /// query; call before digest() for files in it. Repeated calls for a loaded dir are free.
  void preload(const std::filesystem::path& dir);
  /// Hex sha256 of the regular file at `real` (absolute, real) whose lstat is `st`.
  std::string digest(const std::filesystem::path& real, const struct stat& st);
  /// Writes the records of files hashed since the last flush (one transaction).
  void flush();

 private:
  cache::Store& m_store;
  std::unordered_map<std::string, cache::Store::FileDigest> m_known;
  std::unordered_map<std::string, bool> m_loaded;
  std::vector<cache::Store::FileDigest> m_pending;
};

}  // namespace strata::builder
