// The rootless sandbox: run as an ordinary user (user namespace mapping the caller to 0).
// As root, the test drops to uid/gid 65534 in a forked child; whether that can work depends
// on the machine (unprivileged user namespaces), so it is tried first and, when the kernel
// refuses, the test WARNs with the reason instead of failing.
#include <grp.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <set>

#include "builder/sandbox/sandbox.hpp"
#include "cache/store.hpp"
#include "oci_tar_read.hpp"
#include "sandbox_fixture.hpp"
#include "util/io.hpp"

using namespace strata;
namespace fs = std::filesystem;
namespace sb = builder::sandbox;

namespace {

constexpr uid_t k_user = 65534;

void chown_tree(const fs::path& root) {
  REQUIRE(::lchown(root.c_str(), k_user, k_user) == 0);
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    REQUIRE(::lchown(entry.path().c_str(), k_user, k_user) == 0);
  }
}

}  // namespace

TEST_CASE("sandbox: rootless run as an ordinary user") {
  const std::string probe = test::as_unprivileged([] {
    const std::string reason = sb::unavailable_reason();
    return reason.empty() ? std::string("OK") : "UNAVAILABLE: " + reason;
  });
  INFO(probe);
  REQUIRE(probe.rfind("exit=0\n", 0) == 0);
  if (probe.find("UNAVAILABLE") != std::string::npos) {
    WARN("rootless sandbox not tested: this machine refuses unprivileged user namespaces: " +
         probe.substr(7));
    return;
  }
  REQUIRE(probe == "exit=0\nOK");

  util::TempDir tmp("sandbox-rootless");
  const fs::path rootfs = tmp.path() / "rootfs";
  test::make_rootfs(rootfs);
  if (::geteuid() == 0) {
    chown_tree(tmp.path());  // a rootless user's unpacked layers belong to that user
  }
  const auto before = test::snapshot(rootfs);

  const std::string result = test::as_unprivileged([&] {
    cache::Store::Options store_options;
    store_options.fsync = false;
    cache::Store store(tmp.path() / "store", store_options);
    sb::RunOptions options = test::shell_options(
        "id -u; id -g; echo $$; hostname; grep -c : /proc/net/dev; "
        "echo new > /data/new.txt && rm /data/gone.txt && rm -rf /olddir && mkdir /olddir && "
        "touch /olddir/b",
        {rootfs});
    const sb::LayerRun run = sb::run_to_layer(options, store, oci::LayerOptions{}, tmp.path());
    std::string out = run.run.output + (run.run.rootless ? "rootless\n" : "privileged\n");
    std::set<std::string> names;
    for (const test::ReadEntry& e : test::read_tar(store.read_blob(run.layer.digest))) {
      names.insert(e.path + " " + std::to_string(e.uid) + ":" + std::to_string(e.gid));
    }
    for (const std::string& n : names) {
      out += n + "\n";
    }
    // Other ids than the caller's are refused up front.
    options.uid = 1000;
    try {
      sb::run(options, tmp.path() / "upper2");
      out += "uid 1000 accepted\n";
    } catch (const util::Error& e) {
      out += e.kind() == util::ErrorKind::Unsupported ? "uid 1000 refused\n" : e.what();
    }
    return out;
  });
  CHECK(result ==
        "exit=0\n"
        "0\n0\n1\nstrata\n1\n"
        "rootless\n"
        "data/ 0:0\ndata/.wh.gone.txt 0:0\ndata/new.txt 0:0\n"
        "olddir/ 0:0\nolddir/.wh..wh..opq 0:0\nolddir/b 0:0\n"
        "uid 1000 refused\n");
  CHECK(test::snapshot(rootfs) == before);
}
