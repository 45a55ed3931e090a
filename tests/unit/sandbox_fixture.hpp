// Test helpers for the sandbox: a busybox rootfs, snapshots of a tree, layer reading.
#pragma once

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "builder/sandbox/sandbox.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace strata::test {

namespace fs = std::filesystem;

/// The static busybox the rootfs is made of (Debian package busybox-static, see
/// scripts/setup.sh). Tests fail loudly when it is missing.
inline fs::path busybox_path() {
  for (const char* p : {"/bin/busybox", "/usr/bin/busybox"}) {
    if (fs::exists(p)) {
      return p;
    }
  }
  FAIL("busybox is not installed: run scripts/setup.sh (package busybox-static)");
  return {};
}

/// Makes a minimal rootfs under `root`: /bin/busybox plus applet symlinks, /etc, /data with
/// two files, /olddir with one file.
inline void make_rootfs(const fs::path& root) {
  fs::create_directories(root / "bin");
  fs::copy_file(busybox_path(), root / "bin/busybox");
  for (const char* applet : {"sh", "ls", "cat", "echo", "id", "hostname", "mkdir", "rm", "touch",
                             "sleep", "grep", "wc", "pwd", "stat", "env", "readlink"}) {
    fs::create_symlink("busybox", root / "bin" / applet);
  }
  fs::create_directories(root / "etc");
  util::write_file_atomic(root / "etc/motd", "welcome\n");
  fs::create_directories(root / "data");
  util::write_file_atomic(root / "data/keep.txt", "keep\n");
  util::write_file_atomic(root / "data/gone.txt", "gone\n");
  fs::create_directories(root / "olddir");
  util::write_file_atomic(root / "olddir/a", "a\n");
}

/// path -> "type size mtime mode" for every entry under `root`.
inline std::map<std::string, std::string> snapshot(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    struct stat st {};
    ::lstat(entry.path().c_str(), &st);
    out[fs::relative(entry.path(), root).string()] =
        std::to_string(st.st_mode) + " " + std::to_string(st.st_size) + " " +
        std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
  }
  return out;
}

/// Options running `script` with /bin/sh -c over `lowers`.
inline builder::sandbox::RunOptions shell_options(const std::string& script,
                                                  std::vector<fs::path> lowers) {
  builder::sandbox::RunOptions options;
  options.argv = {"/bin/sh", "-c", script};
  options.lower_dirs = std::move(lowers);
  return options;
}

/// The Error `fn` throws; fails the test when it throws none.
inline util::Error error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const util::Error& e) {
    return e;
  }
  FAIL("expected a strata::util::Error");
  return util::Error(util::ErrorKind::Internal, "unreachable");
}

}  // namespace strata::test
