// Test helper: reads a (possibly compressed) tar in memory with libarchive, the reference
// reader the layer writer's output is checked against.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <clocale>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace strata::test {

struct ReadEntry {
  std::string path;
  unsigned type = 0;        // AE_IFREG, AE_IFDIR, ...
  unsigned perm = 0;        // permission bits incl. setuid/setgid/sticky
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  std::string uname;
  std::string gname;
  std::int64_t mtime = 0;
  bool atime_set = false;
  bool ctime_set = false;
  std::int64_t size = 0;
  std::string content;
  std::string symlink;
  std::string hardlink;
  std::map<std::string, std::string> xattrs;
};

inline std::vector<ReadEntry> read_tar(const std::string& data) {
  // PAX paths are UTF-8; libarchive converts them to the locale's charset.
  std::setlocale(LC_CTYPE, "C.UTF-8");
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_format_tar(a.get());
  archive_read_support_filter_all(a.get());
  if (archive_read_open_memory(a.get(), data.data(), data.size()) != ARCHIVE_OK) {
    throw std::runtime_error(std::string("libarchive open: ") + archive_error_string(a.get()));
  }
  std::vector<ReadEntry> out;
  archive_entry* e = nullptr;
  for (;;) {
    const int rc = archive_read_next_header(a.get(), &e);
    if (rc == ARCHIVE_EOF) {
      break;
    }
    if (rc != ARCHIVE_OK) {
      throw std::runtime_error(std::string("libarchive header: ") +
                               archive_error_string(a.get()));
    }
    ReadEntry r;
    r.path = archive_entry_pathname(e);
    r.type = archive_entry_filetype(e);
    r.perm = archive_entry_perm(e) | (archive_entry_mode(e) & 07000);
    r.uid = archive_entry_uid(e);
    r.gid = archive_entry_gid(e);
    r.uname = archive_entry_uname(e) ? archive_entry_uname(e) : "";
    r.gname = archive_entry_gname(e) ? archive_entry_gname(e) : "";
    r.mtime = archive_entry_mtime(e);
    r.atime_set = archive_entry_atime_is_set(e) != 0;
    r.ctime_set = archive_entry_ctime_is_set(e) != 0;
    r.size = archive_entry_size(e);
    if (archive_entry_symlink(e) != nullptr) {
      r.symlink = archive_entry_symlink(e);
    }
    if (archive_entry_hardlink(e) != nullptr) {
      r.hardlink = archive_entry_hardlink(e);
    }
    archive_entry_xattr_reset(e);
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      r.xattrs[name] = std::string(static_cast<const char*>(value), size);
    }
    char buf[65536];
    for (;;) {
      const la_ssize_t n = archive_read_data(a.get(), buf, sizeof buf);
      if (n < 0) {
        throw std::runtime_error(std::string("libarchive data: ") +
                                 archive_error_string(a.get()));
      }
      if (n == 0) {
        break;
      }
      r.content.append(buf, static_cast<std::size_t>(n));
    }
    out.push_back(std::move(r));
  }
  return out;
}

/// Runs a shell command; returns its exit status.
inline int shell(const std::string& command) {
  const int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace strata::test
