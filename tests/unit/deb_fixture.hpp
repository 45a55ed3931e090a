// Test fixtures for .deb reading and installation: real packages built with
// `dpkg-deb --build --root-owner-group`, and hostile ones assembled by hand (ar written
// here, tar members written with libarchive) so that every byte is under the test's control.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <sys/sysmacros.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace deb_fixture {

namespace fs = std::filesystem;

/// Runs a shell command; returns its stdout. Fails the test (throws) on a non-zero exit.
inline std::string sh(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen((cmd + " 2>&1").c_str(), "r"), ::pclose);
  if (!p) {
    throw std::runtime_error("popen failed: " + cmd);
  }
  std::string out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p.get())) > 0) {
    out.append(buf, n);
  }
  const int rc = ::pclose(p.release());
  if (rc != 0) {
    throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + cmd + "\n" + out);
  }
  return out;
}

inline void write(const fs::path& path, const std::string& content, unsigned mode = 0644) {
  fs::create_directories(path.parent_path());
  strata::util::write_file_atomic(path, content, mode);
  fs::permissions(path, static_cast<fs::perms>(mode));
}

/// A package description for dpkg-deb.
struct Pkg {
  std::string name = "hello";
  std::string version = "1.0-1";
  std::string arch = "amd64";
  std::string extra_fields;  // more "Field: value\n" lines
  std::map<std::string, std::string> files;       // path below / -> content (mode 0644)
  std::map<std::string, std::string> executables; // path -> content (mode 0755)
  std::map<std::string, std::string> symlinks;    // path -> target
  std::vector<std::string> conffiles;             // absolute paths (must be in files)
  std::map<std::string, std::string> scripts;     // postinst etc. (mode 0755)
  std::string triggers;                           // DEBIAN/triggers content
};

/// Builds `pkg` with dpkg-deb into `dir`/<name>.deb, compressed with `z` (gzip, xz, zstd,
/// none). The staging tree is left in `dir`/<name>-src (for `dpkg-deb -x` comparisons).
inline fs::path build_deb(const fs::path& dir, const Pkg& pkg, const std::string& z = "xz") {
  const fs::path src = dir / (pkg.name + "-src");
  fs::create_directories(src / "DEBIAN");
  std::string control = "Package: " + pkg.name + "\nVersion: " + pkg.version +
                        "\nArchitecture: " + pkg.arch +
                        "\nMaintainer: Test <test@example.org>\nInstalled-Size: 4\n" +
                        pkg.extra_fields + "Description: test package " + pkg.name +
                        "\n A longer description.\n .\n Second paragraph.\n";
  write(src / "DEBIAN/control", control);
  std::string md5_list;
  for (const auto& [path, content] : pkg.files) {
    write(src / path, content);
    md5_list += " " + path;
  }
  for (const auto& [path, content] : pkg.executables) {
    write(src / path, content, 0755);
    md5_list += " " + path;
  }
  for (const auto& [path, target] : pkg.symlinks) {
    fs::create_directories((src / path).parent_path());
    fs::create_symlink(target, src / path);
  }
  if (!pkg.conffiles.empty()) {
    std::string c;
    for (const std::string& f : pkg.conffiles) {
      c += f + "\n";
    }
    write(src / "DEBIAN/conffiles", c);
  }
  for (const auto& [name, content] : pkg.scripts) {
    write(src / "DEBIAN" / name, content, 0755);
  }
  if (!pkg.triggers.empty()) {
    write(src / "DEBIAN/triggers", pkg.triggers);
  }
  if (!md5_list.empty()) {
    sh("cd '" + src.string() + "' && md5sum" + md5_list + " > DEBIAN/md5sums");
  }
  const fs::path out = dir / (pkg.name + ".deb");
  // Fixed times, so that a test never depends on a second boundary.
  sh("find '" + src.string() + "' -exec touch -h -d @1600000000 {} +");
  sh("dpkg-deb --build --root-owner-group -Z" + z + " '" + src.string() + "' '" + out.string() +
     "'");
  return out;
}

/// One entry of a hand-made tar.
struct TarEntry {
  std::string path;
  unsigned type = AE_IFREG;
  std::string content;       // file content
  std::string link;          // symlink target
  std::string hardlink;      // hardlink target
  unsigned mode = 0644;
};

/// A TarEntry with defaults for the fields not given.
inline TarEntry te(std::string path, unsigned type = AE_IFREG, std::string content = {},
                   std::string link = {}, std::string hardlink = {}, unsigned mode = 0644) {
  return TarEntry{std::move(path), type, std::move(content), std::move(link), std::move(hardlink),
                  mode};
}

/// An uncompressed PAX tar of `entries`, written with libarchive.
inline std::string make_tar(const std::vector<TarEntry>& entries) {
  std::string out;
  std::unique_ptr<archive, int (*)(archive*)> a(archive_write_new(), archive_write_free);
  archive_write_set_format_pax_restricted(a.get());
  archive_write_open(
      a.get(), &out, nullptr,
      [](archive*, void* client, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const TarEntry& t : entries) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(),
                                                                archive_entry_free);
    archive_entry_set_pathname(e.get(), t.path.c_str());
    archive_entry_set_filetype(e.get(), t.type);
    archive_entry_set_perm(e.get(), t.mode);
    archive_entry_set_mtime(e.get(), 1700000000, 0);
    if (!t.hardlink.empty()) {
      archive_entry_set_hardlink(e.get(), t.hardlink.c_str());
    }
    if (t.type == AE_IFLNK) {
      archive_entry_set_symlink(e.get(), t.link.c_str());
    }
    if (t.type == AE_IFCHR) {
      archive_entry_set_rdev(e.get(), makedev(1, 3));
    }
    archive_entry_set_size(e.get(), t.type == AE_IFREG && t.hardlink.empty()
                                        ? static_cast<la_int64_t>(t.content.size())
                                        : 0);
    archive_write_header(a.get(), e.get());
    if (t.type == AE_IFREG && !t.content.empty()) {
      archive_write_data(a.get(), t.content.data(), t.content.size());
    }
  }
  archive_write_close(a.get());
  return out;
}

/// An ar archive of (name, data) members, as dpkg-deb writes it.
inline std::string make_ar(const std::vector<std::pair<std::string, std::string>>& members,
                           const std::string& magic = "!<arch>\n") {
  std::string out = magic;
  for (const auto& [name, data] : members) {
    char header[61];
    std::snprintf(header, sizeof header, "%-16s%-12s%-6s%-6s%-8s%-10zu`\n", name.c_str(), "0",
                  "0", "0", "100644", data.size());
    out.append(header, 60);
    out += data;
    if (data.size() % 2 != 0) {
      out += '\n';
    }
  }
  return out;
}

inline const char* k_control =
    "Package: evil\nVersion: 1\nArchitecture: all\nMaintainer: X <x@example.org>\n"
    "Description: hostile\n";

/// A .deb with the given data.tar entries (uncompressed members) written to `path`.
inline fs::path hostile_deb(const fs::path& path, const std::vector<TarEntry>& data) {
  const std::string control = make_tar({{"./", AE_IFDIR, "", "", "", 0755},
                                        {"./control", AE_IFREG, k_control, "", "", 0644}});
  write(path, make_ar({{"debian-binary", "2.0\n"}, {"control.tar", control},
                       {"data.tar", make_tar(data)}}));
  return path;
}

}  // namespace deb_fixture
