// RunOptions::ignore_sync: build steps run under a seccomp filter that makes the sync family
// of system calls succeed without waiting for the disk; what they write still lands in the
// upper dir. Without the option (strata run) no filter is installed.
#include <grp.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <functional>
#include <string>

#include "builder/sandbox/sandbox.hpp"
#include "sandbox_fixture.hpp"
#include "util/fs.hpp"
#include "util/io.hpp"

using namespace strata;
namespace fs = std::filesystem;

namespace {

std::string run(const fs::path& tmp, const std::string& script, bool ignore_sync,
                const std::string& upper) {
  builder::sandbox::RunOptions options = test::shell_options(script, {tmp / "rootfs"});
  options.ignore_sync = ignore_sync;
  return builder::sandbox::run(options, tmp / upper).output;
}

}  // namespace

TEST_CASE("sandbox: ignore_sync installs the filter; sync calls succeed and writes still land") {
  util::TempDir tmp("sandbox-seccomp");
  test::make_rootfs(tmp.path() / "rootfs");
  fs::create_symlink("busybox", tmp.path() / "rootfs/bin/sync");
  const std::string script =
      "grep '^Seccomp:' /proc/self/status; echo written > /data/new.txt; "
      "sync && sync -f /data/new.txt && sync -d /data/new.txt && echo synced; cat /data/new.txt";
  const std::string with = run(tmp.path(), script, true, "upper1");
  CHECK(with == "Seccomp:\t2\nsynced\nwritten\n");
  CHECK(util::read_file(tmp.path() / "upper1/data/new.txt") == "written\n");

  const std::string without = run(tmp.path(), script, false, "upper2");
  CHECK(without == "Seccomp:\t0\nsynced\nwritten\n");
  CHECK(util::read_file(tmp.path() / "upper2/data/new.txt") == "written\n");
}

TEST_CASE("sandbox: the filter survives dropping to another uid and leaves other calls alone") {
  util::TempDir tmp("sandbox-seccomp");
  test::make_rootfs(tmp.path() / "rootfs");
  fs::create_symlink("busybox", tmp.path() / "rootfs/bin/sync");
  builder::sandbox::RunOptions options = test::shell_options(
      "grep '^Seccomp:' /proc/self/status; id -u; sync && echo ok", {tmp.path() / "rootfs"});
  options.ignore_sync = true;
  if (::geteuid() == 0) {
    options.uid = 1000;
    options.gid = 1000;
  }
  const std::string out = builder::sandbox::run(options, tmp.path() / "upper").output;
  CHECK(out == std::string("Seccomp:\t2\n") + (::geteuid() == 0 ? "1000" : "0") + "\nok\n");
}

TEST_CASE("sandbox: the filter is installed in a rootless sandbox too") {
  const std::string probe = test::as_unprivileged([] {
    const std::string reason = builder::sandbox::unavailable_reason();
    return reason.empty() ? std::string("OK") : "UNAVAILABLE: " + reason;
  });
  REQUIRE(probe.rfind("exit=0\n", 0) == 0);
  if (probe.find("UNAVAILABLE") != std::string::npos) {
    WARN("rootless seccomp filter not tested: unprivileged user namespaces refused: " +
         probe.substr(7));
    return;
  }
  util::TempDir tmp("sandbox-seccomp");
  const fs::path rootfs = tmp.path() / "rootfs";
  test::make_rootfs(rootfs);
  fs::create_symlink("busybox", rootfs / "bin/sync");
  if (::geteuid() == 0) {
    REQUIRE(::lchown(tmp.path().c_str(), 65534, 65534) == 0);
    for (const auto& entry : fs::recursive_directory_iterator(tmp.path())) {
      REQUIRE(::lchown(entry.path().c_str(), 65534, 65534) == 0);
    }
  }
  const std::string result = test::as_unprivileged([&] {
    builder::sandbox::RunOptions options = test::shell_options(
        "grep '^Seccomp:' /proc/self/status; sync && echo ok", {rootfs});
    options.ignore_sync = true;
    return builder::sandbox::run(options, tmp.path() / "upper").output;
  });
  CHECK(result == "exit=0\nSeccomp:\t2\nok\n");
}
