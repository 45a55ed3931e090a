// The build sandbox: what a command sees, what it leaves in the upper dir and the layer,
// how failures and timeouts are reported.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "builder/sandbox/sandbox.hpp"
#include "cache/store.hpp"
#include "oci_tar_read.hpp"
#include "sandbox_fixture.hpp"

using namespace strata;
using builder::sandbox::RunOptions;
namespace fs = std::filesystem;
namespace sb = builder::sandbox;

namespace {

std::map<std::string, test::ReadEntry> layer_entries(cache::Store& store, const oci::Digest& d) {
  std::map<std::string, test::ReadEntry> out;
  for (test::ReadEntry& e : test::read_tar(store.read_blob(d))) {
    out[e.path] = e;
  }
  return out;
}

std::string run_output(const std::string& script, const fs::path& tmp,
                       const std::function<void(RunOptions&)>& tweak = {}) {
  RunOptions options = test::shell_options(script, {tmp / "rootfs"});
  if (tweak) {
    tweak(options);
  }
  return sb::run(options, tmp / "upper").output;
}

}  // namespace

TEST_CASE("sandbox: output is captured, the command is pid 1, hostname is strata") {
  util::TempDir tmp("sandbox-test");
  test::make_rootfs(tmp.path() / "rootfs");
  std::string streamed;
  const std::string out = run_output("echo hello; echo $$; hostname; echo err >&2", tmp.path(),
                                     [&](RunOptions& o) {
                                       o.on_output = [&](std::string_view s) { streamed += s; };
                                     });
  CHECK(out == "hello\n1\nstrata\nerr\n");
  CHECK(streamed == out);
}

TEST_CASE("sandbox: a failing command reports status and output tail and leaves no upper dir") {
  util::TempDir tmp("sandbox-test");
  test::make_rootfs(tmp.path() / "rootfs");
  RunOptions options = test::shell_options(
      "i=0; while [ $i -lt 80 ]; do echo line$i; i=$((i+1)); done; echo oops >&2; exit 3",
      {tmp.path() / "rootfs"});
  options.tail_lines = 5;
  const util::Error e = test::error_of([&] { sb::run(options, tmp.path() / "upper"); });
  const std::string msg = e.what();
  CHECK(e.kind() == util::ErrorKind::InvalidInput);
  CHECK_THAT(msg, Catch::Contains("exited with status 3"));
  CHECK_THAT(msg, Catch::Contains("/bin/sh -c 'i=0;"));
  CHECK_THAT(msg, Catch::Contains("line79\noops"));
  CHECK_THAT(msg, Catch::Contains("line76"));
  CHECK_THAT(msg, !Catch::Contains("line75"));
  CHECK_FALSE(fs::exists(tmp.path() / "upper"));
  // Nothing else is left next to the upper dir either (work and merged dirs).
  CHECK(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()) == 1);
}

TEST_CASE("sandbox: changes land in the upper dir and the layer, with OCI whiteouts") {
  util::TempDir tmp("sandbox-test");
  const fs::path rootfs = tmp.path() / "rootfs";
  test::make_rootfs(rootfs);
  const auto before = test::snapshot(rootfs);
  cache::Store::Options store_options;
  store_options.fsync = false;
  cache::Store store(tmp.path() / "store", store_options);

  const sb::LayerRun result = sb::run_to_layer(
      test::shell_options("echo new > /data/new.txt && rm /data/gone.txt && rm -rf /olddir && "
                          "mkdir /olddir && echo b > /olddir/b && echo scratch > /tmp/x && "
                          "echo done",
                          {rootfs}),
      store, oci::LayerOptions{}, tmp.path());
  CHECK(result.run.output == "done\n");
  const auto entries = layer_entries(store, result.layer.digest);
  std::set<std::string> names;
  for (const auto& [name, entry] : entries) {
    names.insert(name);
  }
  CHECK(names == std::set<std::string>{"data/", "data/.wh.gone.txt", "data/new.txt", "olddir/",
                                       "olddir/.wh..wh..opq", "olddir/b"});
  CHECK(entries.at("data/new.txt").content == "new\n");
  CHECK(entries.at("olddir/b").content == "b\n");
  CHECK(result.layer.media_type == oci::layer_media_type(oci::Compression::Zstd));
  CHECK(store.has_blob(result.layer.digest));
  // The lower dir is untouched and the scratch dirs are gone.
  CHECK(test::snapshot(rootfs) == before);
  CHECK(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()) == 2);
}

TEST_CASE("sandbox: run leaves the upper dir with only the command's changes") {
  util::TempDir tmp("sandbox-test");
  const fs::path rootfs = tmp.path() / "rootfs";
  test::make_rootfs(rootfs);
  SECTION("no changes: empty upper dir, although the rootfs lacks /proc /dev /tmp /sys") {
    run_output("true", tmp.path());
    CHECK(fs::is_empty(tmp.path() / "upper"));
  }
  SECTION("a new file") {
    run_output("mkdir -p /opt/x && echo hi > /opt/x/f", tmp.path());
    CHECK(util::read_file(tmp.path() / "upper/opt/x/f") == "hi\n");
    CHECK_FALSE(fs::exists(tmp.path() / "upper/proc"));
    CHECK_FALSE(fs::exists(tmp.path() / "upper/tmp"));
  }
  SECTION("mount points that the rootfs has are used as they are") {
    for (const char* d : {"proc", "dev", "tmp", "sys"}) {
      fs::create_directory(rootfs / d);
    }
    util::write_file_atomic(rootfs / "tmp/lower-file", "x");
    CHECK(run_output("ls /tmp; echo end", tmp.path()) == "end\n");
    CHECK(fs::is_empty(tmp.path() / "upper"));
  }
}

TEST_CASE("sandbox: /proc, /dev, /tmp and /sys are what a build step expects") {
  util::TempDir tmp("sandbox-test");
  test::make_rootfs(tmp.path() / "rootfs");
  const std::string out = run_output(
      "grep -E ' /(tmp|proc|dev|dev/shm|sys) ' /proc/mounts | while read a b c d; do echo $b $c; "
      "done; ls /dev; echo x > /dev/null && cat /dev/null && echo null-ok; "
      "readlink /dev/fd",
      tmp.path());
  CHECK_THAT(out, Catch::Contains("/proc proc\n"));
  CHECK_THAT(out, Catch::Contains("/dev tmpfs\n"));
  CHECK_THAT(out, Catch::Contains("/tmp tmpfs\n"));
  CHECK_THAT(out, Catch::Contains("/dev/shm tmpfs\n"));
  for (const char* dev : {"null", "zero", "full", "random", "urandom", "tty", "stdin",
                          "stdout", "stderr", "fd", "pts", "shm", "ptmx"}) {
    CHECK_THAT(out, Catch::Contains(std::string("\n") + dev + "\n"));
  }
  CHECK_THAT(out, Catch::Contains("null-ok\n/proc/self/fd\n"));
}

TEST_CASE("sandbox: network off means only a loopback interface, and it is up") {
  util::TempDir tmp("sandbox-test");
  test::make_rootfs(tmp.path() / "rootfs");
  const std::string out =
      run_output("grep : /proc/net/dev | while read name rest; do echo $name; done; "
                 "ls /sys/class/net; cat /sys/class/net/lo/flags",
                 tmp.path());
  CHECK(out == "lo:\nlo\n0x9\n");
}

TEST_CASE("sandbox: network on shares the host's interfaces and resolver config") {
  util::TempDir tmp("sandbox-test");
  test::make_rootfs(tmp.path() / "rootfs");
  std::size_t host_interfaces = 0;
  {
    const std::string dev = util::read_file("/proc/net/dev");
    for (char c : dev) {
      host_interfaces += c == ':' ? 1 : 0;
    }
  }
  const std::string out = run_output("grep -c : /proc/net/dev; cat /etc/resolv.conf", tmp.path(),
                                     [](RunOptions& o) { o.network = true; });
  CHECK(out.substr(0, out.find('\n')) == std::to_string(host_interfaces));
  if (fs::exists("/etc/resolv.conf")) {
    CHECK(out.substr(out.find('\n') + 1) == util::read_file("/etc/resolv.conf"));
  }
  // The bind-mount points were created only for the run.
  CHECK(fs::is_empty(tmp.path() / "upper"));
}

TEST_CASE("sandbox: the timeout kills the whole sandbox") {
  util::TempDir tmp("sandbox-test");
  test::make_rootfs(tmp.path() / "rootfs");
  const auto start = std::chrono::steady_clock::now();
  const util::Error e = test::error_of([&] {
    run_output("echo started; sleep 30 & sleep 30", tmp.path(),
               [](RunOptions& o) { o.timeout_seconds = 0.5; });
  });
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed < std::chrono::seconds(10));
  CHECK(e.kind() == util::ErrorKind::InvalidInput);
  CHECK_THAT(std::string(e.what()), Catch::Contains("timed out after 0.5 s"));
  CHECK_THAT(std::string(e.what()), Catch::Contains("started"));
  CHECK_FALSE(fs::exists(tmp.path() / "upper"));
}

TEST_CASE("sandbox: env, workdir and the command search path") {
  util::TempDir tmp("sandbox-test");
  test::make_rootfs(tmp.path() / "rootfs");
  SECTION("only the given environment, PATH added when missing") {
    const std::string out = run_output("env | grep -v '^PWD=' | grep -v '^SHLVL=' | sort",
                                       tmp.path(), [](RunOptions& o) { o.env = {"FOO=bar"}; });
    CHECK_THAT(out, Catch::Contains("FOO=bar\n"));
    CHECK_THAT(out, Catch::Contains("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"));
    CHECK_THAT(out, !Catch::Contains("HOME="));
  }
  SECTION("workdir") {
    CHECK(run_output("pwd", tmp.path(), [](RunOptions& o) { o.workdir = "/data"; }) ==
          "/data\n");
  }
  SECTION("a missing workdir is an error naming it") {
    const util::Error e = test::error_of(
        [&] { run_output("pwd", tmp.path(), [](RunOptions& o) { o.workdir = "/nowhere"; }); });
    CHECK(e.kind() == util::ErrorKind::InvalidInput);
    CHECK_THAT(std::string(e.what()), Catch::Contains("working directory /nowhere"));
  }
  SECTION("argv[0] is searched in PATH") {
    RunOptions options;
    options.argv = {"echo", "found"};
    options.lower_dirs = {tmp.path() / "rootfs"};
    CHECK(sb::run(options, tmp.path() / "upper").output == "found\n");
  }
  SECTION("an unknown command is an error naming it") {
    RunOptions options;
    options.argv = {"no-such-tool", "x"};
    options.lower_dirs = {tmp.path() / "rootfs"};
    const util::Error e = test::error_of([&] { sb::run(options, tmp.path() / "upper"); });
    CHECK(e.kind() == util::ErrorKind::InvalidInput);
    CHECK_THAT(std::string(e.what()), Catch::Contains("execute no-such-tool"));
    CHECK_FALSE(fs::exists(tmp.path() / "upper"));
  }
  SECTION("an existing upper dir is refused") {
    fs::create_directory(tmp.path() / "upper");
    const util::Error e = test::error_of([&] { run_output("true", tmp.path()); });
    CHECK(e.kind() == util::ErrorKind::Conflict);
  }
}

TEST_CASE("sandbox: uid and gid") {
  util::TempDir tmp("sandbox-test");
  test::make_rootfs(tmp.path() / "rootfs");
  auto as_1000 = [](RunOptions& o) {
    o.uid = 1000;
    o.gid = 1001;
  };
  if (::geteuid() == 0) {
    CHECK(run_output("id -u; id -g; id -G", tmp.path(), as_1000) == "1000\n1001\n1001\n");
  } else {
    // Rootless maps only the caller: other ids are refused up front.
    const util::Error e = test::error_of([&] { run_output("id -u", tmp.path(), as_1000); });
    CHECK(e.kind() == util::ErrorKind::Unsupported);
  }
}

TEST_CASE("sandbox: several lower dirs, topmost first") {
  util::TempDir tmp("sandbox-test");
  test::make_rootfs(tmp.path() / "rootfs");
  const fs::path top = tmp.path() / "top";
  fs::create_directories(top / "data");
  util::write_file_atomic(top / "data/keep.txt", "top\n");
  RunOptions options = test::shell_options("cat /data/keep.txt /etc/motd", {top, tmp.path() / "rootfs"});
  CHECK(sb::run(options, tmp.path() / "upper").output == "top\nwelcome\n");
}

TEST_CASE("sandbox: a sandbox started while other threads start and exit does not hang") {
  // The child is made by a raw clone() and inherits glibc's view of the parent's threads;
  // glibc's set*id() wrappers then wait for a thread-list lock that a thread starting or
  // exiting held at clone time, forever (a build hung this way while .debs downloaded on a
  // background thread). Each run has a timeout, so a hang fails the test instead.
  util::TempDir tmp("sandbox-test");
  test::make_rootfs(tmp.path() / "rootfs");
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    while (!stop) {
      std::thread([] {}).join();
    }
  });
  int finished = 0;
  std::string failure;
  for (int i = 0; i < 150 && failure.empty(); ++i) {
    RunOptions options = test::shell_options("true", {tmp.path() / "rootfs"});
    options.timeout_seconds = 10;
    try {
      sb::run(options, tmp.path() / ("upper" + std::to_string(i)));
      ++finished;
    } catch (const util::Error& e) {
      failure = e.what();
    }
  }
  stop = true;
  churn.join();
  INFO(failure);
  CHECK(finished == 150);
}
