// Filesystem helpers: atomic files, temporary directories, whole-file reads.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "util/fd.hpp"
#include "util/io.hpp"

namespace strata::util {

/// A file written under a temporary name in the target's directory and published with an
/// explicit commit(): write, fsync, rename over the target, fsync the directory. Readers
/// never see a partial file. Without commit() the temporary file is removed on
/// destruction. Not thread-safe; move-only.
class AtomicFile final : public Sink {
 public:
  explicit AtomicFile(std::filesystem::path target, unsigned mode = 0644);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() override;

  using Sink::write;
  void write(const void* data, std::size_t size) override;
  /// Flushes, fsyncs and renames onto the target. Throws IO on failure (the temp is removed).
  void commit();
  /// Discards the temporary file.
  void abort() noexcept;
  [[nodiscard]] const std::filesystem::path& target() const noexcept { return m_target; }
  [[nodiscard]] const std::filesystem::path& temp_path() const noexcept { return m_temp; }

 private:
  void flush();
  std::filesystem::path m_target;
  std::filesystem::path m_temp;
  Fd m_fd;
  std::string m_buffer;
  bool m_done = false;
};

/// Writes `data` to `path` atomically (AtomicFile).
void write_file_atomic(const std::filesystem::path& path, std::string_view data,
                       unsigned mode = 0644);

/// Reads a whole file; throws NotFound/IO naming it.
std::string read_file(const std::filesystem::path& path);

/// fsyncs a directory so that a rename inside it is durable.
void fsync_dir(const std::filesystem::path& dir);

/// Creates a fresh directory (mkdtemp) and removes it recursively on destruction.
class TempDir {
 public:
  /// Creates it under `parent` (default: $TMPDIR or /tmp) with the given name prefix.
  explicit TempDir(const std::string& prefix = "strata",
                   const std::filesystem::path& parent = {});
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return m_path; }

 private:
  std::filesystem::path m_path;
};

/// Removes a tree, making read-only directories writable first; never throws.
void remove_tree(const std::filesystem::path& path) noexcept;

}  // namespace strata::util
