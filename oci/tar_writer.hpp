// A PAX tar serialiser with full control over every byte, for reproducible layers.
//
// Each entry is one POSIX ustar header block, preceded by a PAX extended header ('x' entry)
// only when the ustar fields cannot hold the entry exactly:
//   - the path (directories end with '/') is longer than ustar's name/prefix split allows,
//     or contains a byte >= 0x80 ("path"); the link target is longer than 100 bytes or
//     contains a byte >= 0x80 ("linkpath"); if either is not valid UTF-8 the header also
//     carries "hdrcharset=BINARY" so readers keep the raw bytes;
//   - size >= 8 GiB ("size"), uid/gid >= 8^7 ("uid", "gid"), mtime < 0 or >= 8^11 ("mtime");
//   - extended attributes, as "SCHILY.xattr.<name>" records (the form GNU tar, libarchive
//     and Go's archive/tar all read).
// PAX records are "<len> <key>=<value>\n" where <len> counts the whole record including its
// own digits; records are sorted bytewise by key. The 'x' entry is named
// "PaxHeaders/<basename>" (non-printable and non-ASCII bytes replaced by '_', truncated to
// 100 bytes), mode 0644, owner 0:0, mtime of the entry (or 0 when out of ustar range).
//
// Fixed choices that make the output a pure function of the entries: numeric uid/gid with
// empty uname/gname, device major/minor always "0000000", no atime/ctime, numeric fields
// zero-padded octal terminated by NUL, checksum as six octal digits, NUL, space (as GNU tar).
// The archive ends with exactly two zero blocks; it is NOT padded to a 10240-byte record as
// GNU tar does, since padding carries no information and every reader accepts its absence.
//
// Output is buffered (1 MiB by default) so that the many small header writes reach the sink
// as large chunks; file content read from a Source lands directly in that buffer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/io.hpp"

namespace strata::oci {

/// Entry types the writer produces (ustar typeflag values).
enum class TarType : char {
  File = '0',
  Hardlink = '1',
  Symlink = '2',
  Directory = '5',
  Fifo = '6',
};

/// Metadata of one tar entry. Value type.
struct TarEntry {
  std::string path;         // relative path without trailing '/'; written with '/' for dirs
  TarType type = TarType::File;
  std::uint32_t mode = 0644;  // permission bits incl. setuid/setgid/sticky (masked to 07777)
  std::uint64_t uid = 0;
  std::uint64_t gid = 0;
  std::int64_t mtime = 0;   // seconds since the epoch; written exactly as given
  std::uint64_t size = 0;   // File: content bytes that follow; others: must be 0
  std::string link_target;  // Symlink target, or Hardlink: path of the earlier entry
  /// Extended attributes (name, value); written sorted by name. Names must not contain
  /// '=' or NUL (InvalidInput).
  std::vector<std::pair<std::string, std::string>> xattrs;
};

/// Order of entries in a layer: bytewise by path, compared component by component, i.e.
/// bytewise with '/' sorting before every other byte. Parents come before their children
/// and "a/b" before "a.b" (the directory "a" and all it holds precede "a.b").
bool tar_path_less(std::string_view a, std::string_view b) noexcept;

/// Serialises entries into a Sink. Usage: for each entry write_header(), then exactly
/// `size` content bytes through write_content()/copy_content(); finally finish(). Padding to
/// 512 bytes is added automatically when an entry's content is complete. Not thread-safe;
/// the sink must outlive the writer. Nothing is written after an exception.
class TarWriter {
 public:
  explicit TarWriter(util::Sink& out, std::size_t buffer_size = std::size_t{1} << 20);
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  /// Writes the header(s) of one entry. Throws Internal if the previous entry's content is
  /// incomplete, InvalidInput for an empty path, an xattr name with '=' or a non-zero size on
  /// a non-file entry.
  void write_header(const TarEntry& entry);
  /// Appends content bytes of the current file entry (Internal error if more than declared).
  void write_content(const void* data, std::size_t size);
  /// Reads exactly `size` content bytes from `source` straight into the output buffer.
  /// Throws IO naming `name` if the source ends early (the file shrank while being read).
  void copy_content(util::Source& source, std::uint64_t size, std::string_view name);
  /// Writes the two zero end blocks and flushes. Throws Internal if content is missing.
  void finish();
  /// Hands buffered bytes to the sink (finish() does this; exposed for tests).
  void flush();

  /// Bytes produced so far (buffered or flushed).
  [[nodiscard]] std::uint64_t bytes_written() const noexcept { return m_total; }

 private:
  void append(const void* data, std::size_t size);
  void end_content();

  util::Sink& m_out;
  std::vector<char> m_buffer;
  std::size_t m_fill = 0;
  std::uint64_t m_total = 0;
  std::uint64_t m_remaining = 0;  // content bytes still owed by the current entry
  std::uint64_t m_entry_size = 0;
  std::string m_current;          // path of the current entry, for error messages
  bool m_finished = false;
};

}  // namespace strata::oci
