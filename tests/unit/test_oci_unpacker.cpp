// The unpacker on well-formed layers: content, metadata, compression, whiteouts, OCI
// replacement rules. Hostile layers are in test_oci_unpack_hostile.cpp.
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "tests/unit/tar_fixture.hpp"
#include "tests/unit/unpack_fixture.hpp"

using Catch::Matchers::Contains;
using strata::oci::Digest;
using strata::oci::UnpackOptions;
using strata::test::EntryOptions;
using strata::test::exists_nofollow;
using strata::test::TarBuilder;
using strata::test::UnpackSandbox;
using strata::util::Error;
using strata::util::ErrorKind;
using strata::util::read_file;
namespace fs = std::filesystem;
namespace media = strata::oci::media;

namespace {

UnpackOptions resolver_options() {
  UnpackOptions o;
  o.use_openat2 = GENERATE(true, false);
  return o;
}

struct stat lstat_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st;
}

}  // namespace

TEST_CASE("unpack: a normal layer", "[unpack]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  const std::string layer = TarBuilder()
                                .dir("./")
                                .dir("./etc")
                                .file("./etc/hostname", "box\n")
                                .dir("usr/bin")
                                .file("usr/bin/tool", "#!/bin/sh\n", {.mode = 0755})
                                .symlink("usr/bin/alias", "tool")
                                .file("implied/parents/file", "deep")
                                .fifo("run/pipe")
                                .finish();
  const auto stats = sb.unpack(layer, o);
  CHECK(stats.entries == 8);
  CHECK(stats.bytes == 4 + 10 + 4);
  CHECK(stats.whiteouts == 0);
  CHECK(read_file(sb.root() / "etc/hostname") == "box\n");
  CHECK(read_file(sb.root() / "usr/bin/alias") == "#!/bin/sh\n");
  CHECK(fs::read_symlink(sb.root() / "usr/bin/alias") == "tool");
  CHECK(read_file(sb.root() / "implied/parents/file") == "deep");
  CHECK((lstat_of(sb.root() / "implied").st_mode & 07777) == 0755);
  CHECK(S_ISFIFO(lstat_of(sb.root() / "run/pipe").st_mode));
  sb.require_outside_untouched();
}

TEST_CASE("unpack: gzip, zstd and plain layers by media type", "[unpack]") {
  UnpackOptions o;
  o.pipeline_decompression = GENERATE(true, false);
  UnpackSandbox sb;
  std::string content(3'000'000, '\0');  // several decompressed chunks, not all alike
  for (std::size_t i = 0; i < content.size(); ++i) {
    content[i] = static_cast<char>((i * 7919) >> 9);
  }
  const std::string tar = TarBuilder().file("data/big", content).finish();
  SECTION("gzip") {
    sb.unpack(strata::test::gzip(tar), o, media::k_oci_layer_gzip);
  }
  SECTION("gzip in two members") {
    sb.unpack(strata::test::gzip(tar.substr(0, 100000)) + strata::test::gzip(tar.substr(100000)), o,
              media::k_docker_layer_gzip);
  }
  SECTION("zstd") {
    sb.unpack(strata::test::zstd(tar), o, media::k_oci_layer_zstd);
  }
  SECTION("plain") {
    sb.unpack(tar, o, media::k_oci_layer_tar);
  }
  SECTION("unknown media type: auto-detected") {
    sb.unpack(strata::test::zstd(tar), o, "");
  }
  CHECK(read_file(sb.root() / "data/big") == content);
}

TEST_CASE("unpack: corrupt compressed data", "[unpack]") {
  UnpackOptions o;
  o.pipeline_decompression = GENERATE(true, false);
  UnpackSandbox sb;
  std::string content(200000, '\0');
  for (std::size_t i = 0; i < content.size(); ++i) {
    content[i] = static_cast<char>((i * i * 7919) >> 7);
  }
  const std::string tar = TarBuilder().file("f", content).finish();
  REQUIRE(strata::test::zstd(tar).size() > 1000);
  std::string zst = strata::test::zstd(tar);
  std::string gz = strata::test::gzip(tar);
  const std::string blob =
      GENERATE_COPY(zst.substr(0, zst.size() / 2), gz.substr(0, gz.size() / 2),
                    zst.substr(0, 20) + std::string(100, 'j') + zst.substr(120));
  try {
    sb.unpack(blob, o, "");
    FAIL("corrupt layer accepted");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK((e.kind() == ErrorKind::Corruption || e.kind() == ErrorKind::InvalidInput));
    CHECK_THAT(e.what(), Contains("layer " + Digest::of(blob).str()));
  }
}

TEST_CASE("unpack: unsupported media type and empty layers", "[unpack]") {
  UnpackSandbox sb;
  const std::string tar = TarBuilder().file("f", "x").finish();
  try {
    sb.unpack(tar, {}, "application/vnd.oci.image.layer.v1.tar+bzip2");
    FAIL("accepted bzip2");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Unsupported);
    CHECK_THAT(e.what(), Contains(Digest::of(tar).str()));
  }
  CHECK(sb.unpack("").entries == 0);
  CHECK(sb.unpack(std::string(1024, '\0')).entries == 0);
  CHECK(
      sb.unpack(strata::test::gzip(std::string(1024, '\0')), {}, media::k_oci_layer_gzip).entries ==
      0);
  CHECK(fs::is_empty(sb.root()));
}

TEST_CASE("unpack: modes and times are restored", "[unpack]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  const std::string layer =
      TarBuilder()
          .dir("d", {.mode = 0750, .mtime = 1'600'000'000})
          .file("d/f", "x", {.mode = 0640, .mtime = 1'500'000'000, .mtime_nsec = 123456789})
          .file("d/suid", "x", {.mode = 04755})
          .file("d/ro", "x", {.mode = 0400})
          .dir("d/sub", {.mode = 0555, .mtime = 1'400'000'000})
          .file("d/sub/in", "x")
          .symlink("d/link", "f", {.mtime = 1'300'000'000})
          .dir("sticky", {.mode = 01777})
          .finish();
  sb.unpack(layer, o);
  const auto d = lstat_of(sb.root() / "d");
  CHECK((d.st_mode & 07777) == 0750);
  CHECK(d.st_mtim.tv_sec == 1'600'000'000);  // after its content was written
  const auto f = lstat_of(sb.root() / "d/f");
  CHECK((f.st_mode & 07777) == 0640);
  CHECK(f.st_mtim.tv_sec == 1'500'000'000);
  CHECK(f.st_mtim.tv_nsec == 123456789);
  CHECK((lstat_of(sb.root() / "d/suid").st_mode & 07777) == 0755);  // no setuid without owners
  CHECK((lstat_of(sb.root() / "d/ro").st_mode & 07777) == 0400);
  const auto sub = lstat_of(sb.root() / "d/sub");
  CHECK((sub.st_mode & 07777) == 0555);
  CHECK(sub.st_mtim.tv_sec == 1'400'000'000);
  CHECK(lstat_of(sb.root() / "d/link").st_mtim.tv_sec == 1'300'000'000);
  CHECK((lstat_of(sb.root() / "sticky").st_mode & 07777) == 01777);
}

TEST_CASE("unpack: owners and setuid with preserve_owners", "[unpack]") {
  if (::geteuid() != 0) {
    WARN("not root: preserve_owners cannot be checked for foreign ids");
    return;
  }
  UnpackSandbox sb;
  UnpackOptions o;
  o.preserve_owners = true;
  sb.unpack(TarBuilder()
                .dir("home", {.uid = 1234, .gid = 4321})
                .file("home/suid", "x", {.mode = 04755, .uid = 1234, .gid = 4321})
                .symlink("home/link", "suid", {.uid = 77, .gid = 88})
                .finish(),
            o);
  const auto dir = lstat_of(sb.root() / "home");
  CHECK(dir.st_uid == 1234);
  CHECK(dir.st_gid == 4321);
  const auto f = lstat_of(sb.root() / "home/suid");
  CHECK(f.st_uid == 1234);
  CHECK((f.st_mode & 07777) == 04755);
  const auto l = lstat_of(sb.root() / "home/link");
  CHECK(l.st_uid == 77);
  CHECK(l.st_gid == 88);
}

TEST_CASE("unpack: extended attributes", "[unpack]") {
  UnpackSandbox sb;
  sb.unpack(TarBuilder()
                .file("f", "x", {.xattrs = {{"user.origin", "layer-1"}}})
                .dir("d", {.xattrs = {{"user.kind", "dir"}}})
                .finish());
  char buf[64] = {};
  const ssize_t n = ::getxattr((sb.root() / "f").c_str(), "user.origin", buf, sizeof buf);
  if (n < 0 && errno == ENOTSUP) {
    WARN("the temp filesystem does not support user xattrs");
    return;
  }
  CHECK(std::string(buf, static_cast<std::size_t>(n)) == "layer-1");
  const ssize_t m = ::getxattr((sb.root() / "d").c_str(), "user.kind", buf, sizeof buf);
  CHECK(std::string(buf, static_cast<std::size_t>(m)) == "dir");
}

TEST_CASE("unpack: hardlinks inside the root", "[unpack]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  sb.unpack(TarBuilder().file("lib/a.so", "elf").finish(), o);
  sb.unpack(TarBuilder()
                .file("bin/tool", "code")
                .hardlink("bin/tool2", "bin/tool")
                .hardlink("lib/b.so", "lib/a.so")  // to a file of a lower layer
                .hardlink("bin/tool", "bin/tool")  // to itself
                .finish(),
            o);
  CHECK(lstat_of(sb.root() / "bin/tool").st_ino == lstat_of(sb.root() / "bin/tool2").st_ino);
  CHECK(lstat_of(sb.root() / "lib/a.so").st_ino == lstat_of(sb.root() / "lib/b.so").st_ino);
  CHECK(read_file(sb.root() / "bin/tool") == "code");
}

TEST_CASE("unpack: whiteouts remove lower-layer content only", "[unpack]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  sb.unpack(TarBuilder()
                .file("etc/old.conf", "old")
                .file("etc/keep.conf", "keep")
                .file("var/cache/x/y", "z")
                .finish(),
            o);
  const auto stats = sb.unpack(TarBuilder()
                                   .file("etc/.wh.old.conf", "")
                                   .file("var/cache/.wh.x", "")
                                   .file("etc/new.conf", "new")
                                   .file("etc/.wh.new.conf", "")  // same layer: not hidden
                                   .file(".wh.missing", "")       // nothing to hide
                                   .file("nodir/.wh.x", "")       // no such directory
                                   .finish(),
                               o);
  CHECK(stats.whiteouts == 5);
  CHECK(stats.entries == 6);
  CHECK_FALSE(exists_nofollow(sb.root() / "etc/old.conf"));
  CHECK_FALSE(exists_nofollow(sb.root() / "etc/.wh.old.conf"));  // never written
  CHECK_FALSE(exists_nofollow(sb.root() / "var/cache/x"));
  CHECK_FALSE(exists_nofollow(sb.root() / "nodir"));  // no parents made for whiteouts
  CHECK(read_file(sb.root() / "etc/keep.conf") == "keep");
  CHECK(read_file(sb.root() / "etc/new.conf") == "new");
}

TEST_CASE("unpack: opaque directories", "[unpack]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  sb.unpack(TarBuilder()
                .file("opt/app/lower1", "1")
                .file("opt/app/sub/lower2", "2")
                .file("opt/app/-early/lower3", "3")
                .symlink("opt/app/link", "/etc")
                .file("opt/other", "kept")
                .finish(),
            o);
  // "-early" sorts before ".wh..wh..opq": this layer's entries placed before the marker,
  // even inside a lower directory, survive it; everything else from below goes.
  sb.unpack(TarBuilder()
                .dir("opt/app")
                .dir("opt/app/sub")  // declared again: kept, but its lower content goes
                .file("opt/app/-early/mine", "m")
                .file("opt/app/+first", "f")
                .file("opt/app/.wh..wh..opq", "")
                .file("opt/app/after", "a")
                .finish(),
            o);
  std::set<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(sb.root() / "opt/app")) {
    names.insert(fs::relative(e.path(), sb.root() / "opt/app").string());
  }
  CHECK(names == std::set<std::string>{"-early", "-early/mine", "+first", "after", "sub"});
  CHECK(read_file(sb.root() / "opt/other") == "kept");
  sb.require_outside_untouched();
}

TEST_CASE("unpack: opaque marker at the root and in a fresh directory", "[unpack]") {
  UnpackSandbox sb;
  sb.unpack(TarBuilder().file("a", "1").file("b/c", "2").finish());
  sb.unpack(TarBuilder().file("z", "new").file(".wh..wh..opq", "").finish());
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(sb.root())) {
    names.insert(e.path().filename().string());
  }
  CHECK(names == std::set<std::string>{"z"});
  sb.unpack(TarBuilder().dir("fresh").file("fresh/.wh..wh..opq", "").file("fresh/x", "").finish());
  CHECK(exists_nofollow(sb.root() / "fresh/x"));
}

TEST_CASE("unpack: OCI replacement rules", "[unpack]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  sb.unpack(TarBuilder()
                .file("was_file", "f")
                .file("was_dir/deep/x", "x")
                .file("target", "original")
                .symlink("was_link", "target")
                .symlink("link_dir", "real")
                .dir("real")
                .finish(),
            o);
  sb.unpack(TarBuilder()
                .dir("was_file")
                .file("was_dir", "now a file")
                .file("was_link", "replaced, not followed")
                .dir("link_dir")  // a directory replaces a symlink, it does not follow it
                .file("link_dir/in", "i")
                .finish(),
            o);
  CHECK(fs::is_directory(fs::symlink_status(sb.root() / "was_file")));
  CHECK(read_file(sb.root() / "was_dir") == "now a file");
  CHECK(fs::is_regular_file(fs::symlink_status(sb.root() / "was_link")));
  CHECK(read_file(sb.root() / "target") == "original");
  CHECK(fs::is_directory(fs::symlink_status(sb.root() / "link_dir")));
  CHECK(fs::is_empty(sb.root() / "real"));
}

TEST_CASE("unpack: in-root absolute symlinks", "[unpack]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  sb.unpack(TarBuilder()
                .file("bin/foo", "foo")
                .dir("usr/lib")
                .symlink("usr/bin/foo", "/bin/foo")  // kept verbatim
                .symlink("lib", "/usr/lib")          // absolute directory link
                .symlink("sbin", "usr/sbin")         // merged-/usr style
                .dir("usr/sbin")
                .finish(),
            o);
  CHECK(fs::read_symlink(sb.root() / "usr/bin/foo") == "/bin/foo");
  sb.unpack(TarBuilder()
                .file("lib/libx.so", "x")    // resolves to root/usr/lib
                .file("sbin/init", "i")      // resolves to root/usr/sbin
                .file("lib/new/dir/f", "n")  // parents below the link are created
                .finish(),
            o);
  CHECK(read_file(sb.root() / "usr/lib/libx.so") == "x");
  CHECK(read_file(sb.root() / "usr/sbin/init") == "i");
  CHECK(read_file(sb.root() / "usr/lib/new/dir/f") == "n");
  CHECK(fs::is_symlink(sb.root() / "lib"));
  sb.require_outside_untouched();
}

TEST_CASE("unpack: errors from the source keep their kind", "[unpack]") {
  class FailingSource final : public strata::util::Source {
   public:
    std::size_t read(void*, std::size_t) override {
      throw Error(ErrorKind::Corruption, "digest mismatch for blob");
    }
  };
  UnpackSandbox sb;
  FailingSource source;
  const Digest digest = Digest::of("x");
  try {
    strata::oci::unpack_layer(sb.root(), source, std::string(media::k_oci_layer_tar), digest);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Corruption);
    CHECK_THAT(e.what(), Contains("layer " + digest.str()));
    CHECK_THAT(e.what(), Contains("digest mismatch for blob"));
  }
}

TEST_CASE("unpack: the whole layer is read so a verifying source sees its end", "[unpack]") {
  class CountingSource final : public strata::util::Source {
   public:
    explicit CountingSource(std::string data) : m_data(std::move(data)), m_inner(m_data) {}
    std::size_t read(void* buf, std::size_t size) override {
      const std::size_t n = m_inner.read(buf, std::min<std::size_t>(size, 100));
      m_total += n;
      return n;
    }
    std::string m_data;
    strata::util::StringSource m_inner;
    std::size_t m_total = 0;
  };
  UnpackSandbox sb;
  CountingSource source(TarBuilder().file("f", "x").finish() + std::string(10000, '\0'));
  strata::oci::unpack_layer(sb.root(), source, "", Digest::of("x"));
  CHECK(source.m_total == source.m_data.size());
}

TEST_CASE("unpack: missing root", "[unpack]") {
  UnpackSandbox sb;
  strata::util::StringSource source("");
  CHECK_THROWS_AS(strata::oci::unpack_layer(sb.root() / "nope", source, "", Digest::of("")), Error);
}
