// Reading Debian binary packages (.deb, deb(5)) in-process with libarchive.
//
// A .deb is an ar archive whose members must come in this order: "debian-binary"
// (format version "2.x"), "control.tar" (optionally .gz, .xz or .zst), "data.tar"
// (optionally .gz, .xz, .zst or .bz2). Members whose names start with '_' are reserved and
// skipped, as dpkg does; anything else is an error. DebReader opens the file, checks the ar
// magic, reads debian-binary and the (small, size-bounded) control.tar into memory, and then
// streams data.tar entry by entry without buffering it: memory stays bounded whatever the
// package size (preload_data() buffers a bounded prefix on request). Every error names the
// .deb and the member.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "builder/debian/control.hpp"

struct archive;
struct archive_entry;

namespace strata::builder::debian {

/// One regular file of control.tar ("control", "md5sums", "conffiles", "postinst", ...).
/// Value type.
struct DebControlFile {
  std::string content;
  std::uint32_t mode = 0644;  // permission bits as stored in control.tar
};

/// What control.tar holds. Value type.
struct DebControl {
  Stanza control;                                 // the parsed "control" file
  std::map<std::string, DebControlFile> files;    // every regular file by name, incl. control
  std::string data_member;                        // "data.tar.xz" etc.
};

/// Limits for hostile input.
struct DebLimits {
  std::uint64_t max_control_size = 64ULL << 20;  // uncompressed bytes of control.tar files
  std::size_t max_path_length = 4096;
};

/// Reads one .deb. Opening reads the ar header, debian-binary and control.tar; data.tar is
/// streamed once by for_each_data_entry(). Not thread-safe; one instance per file; move-only.
class DebReader {
 public:
  /// Opens `path`. Throws NotFound/IO when it cannot be read, InvalidInput (naming the
  /// .deb and the member) when it is not a valid .deb, Unsupported for a newer format.
  explicit DebReader(const std::filesystem::path& path, DebLimits limits = {});
  DebReader(DebReader&&) noexcept;
  DebReader& operator=(DebReader&&) noexcept;
  ~DebReader();

  /// The control member's content. Valid for the reader's lifetime.
  [[nodiscard]] const DebControl& control() const noexcept { return m_control; }
  /// The path given to the constructor (for messages).
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return m_path; }

  /// Calls `fn` for every entry of data.tar, in archive order, with the libarchive handle
  /// positioned on that entry (fn may read its data with archive_read_data). May be called
  /// once. Errors from libarchive are thrown as InvalidInput naming the .deb, member and
  /// entry; exceptions from `fn` propagate, prefixed with the same context.
  void for_each_data_entry(const std::function<void(archive*, archive_entry*)>& fn);

  /// Decompresses the first `max_bytes` (plus at most one decompressor block) of data.tar
  /// into memory now, so that a later for_each_data_entry() parses them from memory and
  /// only decompresses the rest, if any, as it goes. Lets a helper thread do the expensive
  /// part (xz) ahead of the thread that writes the files (deb_prefetch.hpp). A
  /// decompression error met here is reported by for_each_data_entry() when it reaches
  /// that point, as without preloading. Returns the bytes now held. Call at most once,
  /// before for_each_data_entry(); throws Internal otherwise.
  std::uint64_t preload_data(std::uint64_t max_bytes);

 private:
  struct Impl;
  std::filesystem::path m_path;
  DebLimits m_limits;
  DebControl m_control;
  std::unique_ptr<Impl> m_impl;
};

/// Field names of a .deb control file that dpkg requires (Package, Version, Architecture).
/// Throws InvalidInput naming `origin` when one is missing or Package is not a valid name.
void check_deb_control(const Stanza& control, const std::string& origin);

}  // namespace strata::builder::debian
