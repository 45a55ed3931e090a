// Packages indexes (dists/SUITE/COMPONENT/binary-ARCH/Packages[.xz|.gz]) into the
// package model the resolver works on.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "builder/debian/control.hpp"
#include "builder/debian/package.hpp"
#include "util/io.hpp"

struct archive;

namespace strata::builder::debian {

/// A Source that yields the decompressed bytes of another source. The compression (xz,
/// lzma, gzip, bzip2, zstd or none) is detected from the data by libarchive's "raw" format
/// with those filters only (no external programs). Not thread-safe; the inner source must
/// outlive it. Errors are Corruption naming `origin`.
class DecompressingSource final : public util::Source {
 public:
  DecompressingSource(util::Source& inner, std::string origin);
  DecompressingSource(const DecompressingSource&) = delete;
  DecompressingSource& operator=(const DecompressingSource&) = delete;
  ~DecompressingSource() override;

  std::size_t read(void* data, std::size_t size) override;

 private:
  struct Callbacks;
  struct ArchiveDeleter {
    void operator()(archive* a) const noexcept;
  };
  void open();
  [[noreturn]] void fail_archive(const char* what);

  util::Source& m_inner;
  std::string m_origin;
  std::unique_ptr<archive, ArchiveDeleter> m_archive;
  std::unique_ptr<Callbacks> m_callbacks;
  bool m_opened = false;
  bool m_eof = false;
};

/// Options for turning stanzas into packages.
struct PackageOptions {
  /// Recorded in Package::archive (e.g. "trixie/main"), for the lock file.
  std::string archive;
  /// Require Filename, Size and SHA256 (true for Packages indexes; false for the dpkg
  /// status database and .deb control files, which have none).
  bool require_download_fields = true;
};

/// Converts one stanza into a Package, validating the version, relations, Multi-Arch,
/// Size and SHA256. Throws InvalidInput naming stanza origin:line and the field. Thread-safe.
Package package_from_stanza(const Stanza& stanza, const PackageOptions& options = {});

/// Parses a Packages index from a (possibly compressed) stream, in file order.
/// `origin` (a path or URL) names it in messages. Throws InvalidInput / Corruption.
/// Memory use is one decompression chunk plus the result. Thread-safe for distinct sources.
std::vector<Package> parse_packages(util::Source& source, const std::string& origin,
                                    const PackageOptions& options = {});

/// Same for a file on disk.
std::vector<Package> parse_packages_file(const std::filesystem::path& path,
                                         const PackageOptions& options = {});

}  // namespace strata::builder::debian
