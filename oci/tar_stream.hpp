// A minimal streaming tar writer for archives whose entries strata names itself (the
// docker-archive): regular files and directories with short ASCII names, numeric owner
// 0:0, empty user/group names and a fixed mtime. Headers are POSIX ustar; a file of 8 GiB
// or more gets a PAX extended header carrying its size. File content is streamed, so a
// layer never has to fit in memory, but its size must be known before it is written.
#pragma once

#include <cstdint>
#include <string_view>

#include "util/io.hpp"

namespace strata::oci {

/// Writes a tar stream to a borrowed sink. Not thread-safe. Call finish() to write the
/// end-of-archive blocks; entries must be added in the order they should appear.
class TarStreamWriter {
 public:
  explicit TarStreamWriter(util::Sink& out) : m_out(out) {}

  /// A directory entry (mode 0755); `path` should end in '/'.
  void add_directory(std::string_view path, std::int64_t mtime);
  /// A whole regular file (mode 0644).
  void add_file(std::string_view path, std::string_view content, std::int64_t mtime);
  /// Starts a regular file of exactly `size` bytes, to be given with write_content().
  void begin_file(std::string_view path, std::uint64_t size, std::int64_t mtime);
  /// Content of the current file; throws Internal if more than the announced size.
  void write_content(const void* data, std::size_t size);
  /// Pads the current file; throws Internal if fewer bytes than announced were written.
  void end_file();
  /// Writes the two zero blocks that end the archive.
  void finish();

 private:
  void header(std::string_view path, char type, std::uint64_t size, std::uint32_t mode,
              std::int64_t mtime);
  util::Sink& m_out;
  std::uint64_t m_remaining = 0;
  std::uint64_t m_file_size = 0;
  bool m_in_file = false;
};

}  // namespace strata::oci
