// Test helpers for the sandbox: a busybox rootfs, snapshots of a tree, layer reading.
#pragma once

#include <sys/stat.h>
#include <unistd.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <grp.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "builder/sandbox/sandbox.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/io.hpp"

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

/// Runs `body` in a forked child dropped to uid/gid 65534 (when root) and returns what it wrote to its
/// pipe, prefixed by "exit=<status>\n". The body reports failures as text.
inline std::string as_unprivileged(const std::function<std::string()>& body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    try {
      if (::geteuid() == 0 && (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 ||
                               ::setuid(65534) != 0)) {
        out = "ERROR: cannot drop to uid 65534";
      } else {
        // Changing ids makes a process non-dumpable, which would make its /proc files (and
        // its children's uid_map) root's; an ordinary user's process is dumpable.
        ::prctl(PR_SET_DUMPABLE, 1);
        out = body();
      }
    } catch (const std::exception& e) {
      out = std::string("ERROR: ") + e.what();
    }
    util::write_all(fds[1], out.data(), out.size(), "result pipe");
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return "exit=" + std::to_string(status) + "\n" + out;
}

}  // namespace strata::test
