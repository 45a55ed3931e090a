// Hostile layers: each must be rejected with an error naming the layer digest and the
// entry, and nothing may appear or change outside the root (the sentinel directory next
// to it). Every case runs twice: with openat2(2) and with the O_NOFOLLOW component walk.
#include <catch2/catch.hpp>

#include "tests/unit/tar_fixture.hpp"
#include "tests/unit/unpack_fixture.hpp"

using Catch::Matchers::Contains;
using strata::oci::Digest;
using strata::oci::UnpackOptions;
using strata::test::exists_nofollow;
using strata::test::TarBuilder;
using strata::test::UnpackSandbox;
using strata::util::Error;
using strata::util::ErrorKind;
namespace fs = std::filesystem;

namespace {

UnpackOptions resolver_options() {
  UnpackOptions o;
  o.use_openat2 = GENERATE(true, false);
  return o;
}

// Unpacks `blob` and requires the rejection; `entry` is the quoted entry name expected in
// the message ("entry '../evil'"), `reason` a piece of the explanation.
void require_rejected(const UnpackSandbox& sb, const std::string& blob, const std::string& entry,
                      const std::string& reason, const UnpackOptions& options) {
  INFO("openat2: " << options.use_openat2);
  bool accepted = false;
  try {
    sb.unpack(blob, options);
    accepted = true;
  } catch (const Error& e) {
    INFO("message: " << e.what());
    CHECK((e.kind() == ErrorKind::InvalidInput || e.kind() == ErrorKind::Corruption));
    CHECK_THAT(e.what(), Contains("layer " + Digest::of(blob).str() + ": "));
    CHECK_THAT(e.what(), Contains(entry));
    CHECK_THAT(e.what(), Contains(reason));
  }
  REQUIRE_FALSE(accepted);
  sb.require_outside_untouched();
}

}  // namespace

TEST_CASE("hostile: '../' traversal", "[unpack][hostile]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  require_rejected(sb, TarBuilder().file("../outside/evil", "x").finish(),
                   "entry '../outside/evil'", "escapes root ('..')", o);
  require_rejected(sb, TarBuilder().file("ok/../../outside/evil", "x").finish(),
                   "entry 'ok/../../outside/evil'", "'..'", o);
  require_rejected(sb, TarBuilder().dir("a").file("a/..", "x").finish(), "entry 'a/..'", "'..'", o);
}

TEST_CASE("hostile: absolute paths", "[unpack][hostile]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  const std::string evil = (sb.outside() / "evil").string();
  require_rejected(sb, TarBuilder().file(evil, "x").finish(), "entry '" + evil + "'", "absolute",
                   o);
  require_rejected(sb, TarBuilder().dir("/").finish(), "entry '/'", "absolute", o);
}

TEST_CASE("hostile: write through a symlink planted in the same layer", "[unpack][hostile]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  // Absolute target: resolved in the root, where it does not exist.
  require_rejected(
      sb, TarBuilder().symlink("link", sb.outside().string()).file("link/evil", "x").finish(),
      "entry 'link/evil'", "does not lead to an existing directory inside the root", o);
  // Relative target climbing out of the root.
  require_rejected(sb, TarBuilder().symlink("up", "../outside").file("up/evil", "x").finish(),
                   "entry 'up/evil'", "escapes the root", o);
  require_rejected(
      sb, TarBuilder().dir("d").symlink("d/up", "../../..").file("d/up/outside/evil", "x").finish(),
      "entry 'd/up/outside/evil'", "escapes the root", o);
}

TEST_CASE("hostile: symlink planted by a lower layer, used by the next", "[unpack][hostile]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  sb.unpack(
      TarBuilder().symlink("esc", "../outside").symlink("abs", sb.outside().string()).finish(), o);
  require_rejected(sb, TarBuilder().file("esc/evil", "x").finish(), "entry 'esc/evil'",
                   "escapes the root", o);
  require_rejected(sb, TarBuilder().file("abs/evil", "x").finish(), "entry 'abs/evil'",
                   "inside the root", o);
  // Whiteouts and opaque markers through the link must not delete outside either.
  require_rejected(sb, TarBuilder().file("esc/.wh.keep", "").finish(), "entry 'esc/.wh.keep'",
                   "escapes the root", o);
  require_rejected(sb, TarBuilder().file("esc/.wh..wh..opq", "").finish(),
                   "entry 'esc/.wh..wh..opq'", "escapes the root", o);
}

TEST_CASE("hostile: symlink chains and loops", "[unpack][hostile]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  require_rejected(
      sb,
      TarBuilder().symlink("a", "b").symlink("b", "../../..").file("a/outside/evil", "x").finish(),
      "entry 'a/outside/evil'", "escapes the root", o);
  // b -> "/" means the root itself (in-root semantics): the file lands inside.
  sb.unpack(TarBuilder().symlink("a", "b").symlink("b", "/").file("a/tmp/evil", "x").finish(), o);
  sb.require_outside_untouched();
  REQUIRE(strata::util::read_file(sb.root() / "tmp/evil") == "x");
  // ... but a target that is missing is never created through the link.
  require_rejected(sb, TarBuilder().symlink("c", "/nowhere/deep").file("c/evil", "x").finish(),
                   "entry 'c/evil'", "does not lead to an existing directory", o);
  REQUIRE_FALSE(exists_nofollow(sb.root() / "nowhere"));
  require_rejected(sb,
                   TarBuilder().symlink("l1", "l2").symlink("l2", "l1").file("l1/x", "x").finish(),
                   "entry 'l1/x'", "too many levels of symlinks", o);
}

TEST_CASE("hostile: hardlinks out of the root", "[unpack][hostile]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  require_rejected(sb, TarBuilder().hardlink("pw", "/etc/passwd").finish(), "entry 'pw'",
                   "hardlink target is absolute", o);
  require_rejected(sb, TarBuilder().hardlink("k", "../outside/keep").finish(), "entry 'k'",
                   "hardlink target escapes root ('..')", o);
  // Through a symlink: neither the link itself nor a path through it may be a target.
  require_rejected(sb, TarBuilder().symlink("s", "../outside/keep").hardlink("h", "s").finish(),
                   "entry 'h'", "is not a regular file", o);
  require_rejected(sb, TarBuilder().symlink("d", "../outside").hardlink("h", "d/keep").finish(),
                   "entry 'h'", "must be reached without symlinks", o);
  // A file inside the root, but reached through an in-root symlink: still refused.
  require_rejected(
      sb,
      TarBuilder().file("real/f", "x").symlink("alias", "real").hardlink("h", "alias/f").finish(),
      "entry 'h'", "must be reached without symlinks", o);
  REQUIRE_FALSE(exists_nofollow(sb.root() / "h"));
}

TEST_CASE("hostile: hardlink to a file that does not exist yet", "[unpack][hostile]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  require_rejected(sb, TarBuilder().hardlink("early", "later").file("later", "x").finish(),
                   "entry 'early'", "does not exist", o);
  REQUIRE_FALSE(exists_nofollow(sb.root() / "early"));
}

TEST_CASE("hostile: device nodes", "[unpack][hostile]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  require_rejected(sb, TarBuilder().chardev("dev/mem", 1, 1).finish(), "entry 'dev/mem'",
                   "device nodes are not allowed", o);
  require_rejected(sb, TarBuilder().blockdev("dev/sda", 8, 0).finish(), "entry 'dev/sda'",
                   "device nodes are not allowed", o);
  // A char 0:0 (an overlayfs whiteout) is a device too; layers use .wh. files.
  require_rejected(sb, TarBuilder().chardev("gone", 0, 0).finish(), "entry 'gone'",
                   "device nodes are not allowed", o);
  REQUIRE_FALSE(exists_nofollow(sb.root() / "dev"));  // rejected before parents are made
}

TEST_CASE("hostile: whiteout abuse", "[unpack][hostile]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  sb.unpack(TarBuilder().file("a/f", "lower").finish(), o);
  require_rejected(sb, TarBuilder().file("a/.wh..", "").finish(), "entry 'a/.wh..'",
                   "invalid whiteout", o);
  require_rejected(sb, TarBuilder().file(".wh...", "").finish(), "entry '.wh...'",
                   "invalid whiteout", o);
  require_rejected(sb, TarBuilder().file("a/.wh.", "").finish(), "entry 'a/.wh.'",
                   "invalid whiteout", o);
  require_rejected(sb, TarBuilder().file(".wh.../x", "").finish(), "entry '.wh.../x'",
                   "reserved whiteout name", o);
  require_rejected(sb, TarBuilder().file("a/.wh.sub/f", "").finish(), "entry 'a/.wh.sub/f'",
                   "reserved whiteout name", o);
  require_rejected(sb, TarBuilder().file("a/.wh..wh.plnk", "").finish(), "entry 'a/.wh..wh.plnk'",
                   "reserved whiteout name", o);
  require_rejected(sb, TarBuilder().file("a/.wh.../../outside/keep", "").finish(),
                   "entry 'a/.wh.../../outside/keep'", "'..'", o);
  REQUIRE(strata::util::read_file(sb.root() / "a/f") == "lower");
}

TEST_CASE("hostile: oversized PAX headers and paths", "[unpack][hostile]") {
  UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  // Past libarchive's own 1 MiB limit: still our error, naming the place.
  const std::string huge = TarBuilder::pax_record("comment", std::string(2 << 20, 'c'));
  require_rejected(sb, TarBuilder().file("before", "x").pax_body(huge).file("f", "x").finish(),
                   "entry after 'before'", "larger than 1 MiB", o);
  // Under libarchive's limit but over ours.
  o.max_pax_header_size = 4096;
  const std::string big = TarBuilder::pax_record("comment", std::string(10000, 'c'));
  require_rejected(sb, TarBuilder().pax_body(big).file("f", "x").finish(), "entry 'f'",
                   "more than the limit of 4096", o);
  REQUIRE_FALSE(exists_nofollow(sb.root() / "f"));
  {  // measured on the decompressed stream
    const std::string layer =
        strata::test::zstd(TarBuilder().file("a", "x").pax_body(big).file("g", "x").finish());
    bool accepted = false;
    try {
      sb.unpack(layer, o, strata::oci::media::k_oci_layer_zstd);
      accepted = true;
    } catch (const Error& e) {
      CHECK_THAT(e.what(), Contains("entry 'g': extended (PAX/GNU) headers of 10752 bytes"));
    }
    REQUIRE_FALSE(accepted);
  }
  o.max_pax_header_size = 1 << 20;
  // A 5000-byte path (PAX "path") is over max_path_length; the message cuts it short.
  const std::string long_path = std::string(2500, 'a') + "/" + std::string(2499, 'b');
  try {
    sb.unpack(TarBuilder().file(long_path, "x").finish(), o);
    FAIL("accepted a 5000-byte path");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::InvalidInput);
    CHECK_THAT(e.what(), Contains("more than the limit of 4096"));
    CHECK(std::string(e.what()).size() < 600);
  }
  sb.require_outside_untouched();
  o.max_path_length = 10;
  require_rejected(sb, TarBuilder().symlink("s", "../../../../../../x").finish(), "entry 's'",
                   "symlink target is 19 bytes long", o);
}

TEST_CASE("hostile: entries replacing the root", "[unpack][hostile]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  require_rejected(sb, TarBuilder().symlink(".", sb.outside().string()).finish(), "entry '.'",
                   "would replace the root directory", o);
  require_rejected(sb, TarBuilder().file(".", "x").finish(), "entry '.'",
                   "would replace the root directory", o);
  require_rejected(sb, TarBuilder().fifo("./.").finish(), "entry './.'",
                   "would replace the root directory", o);
  require_rejected(sb, TarBuilder().hardlink(".", "x").finish(), "entry '.'",
                   "would replace the root directory", o);
}

TEST_CASE("hostile: directory replaced by an escaping symlink, then used", "[unpack][hostile]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  sb.unpack(TarBuilder().dir("d").file("d/lower", "x").finish(), o);
  require_rejected(sb, TarBuilder().symlink("d", "../outside").file("d/evil", "x").finish(),
                   "entry 'd/evil'", "escapes the root", o);
  // The symlink itself replaced the directory (last component never followed).
  REQUIRE(fs::is_symlink(sb.root() / "d"));
}

TEST_CASE("hostile: NUL bytes in PAX paths cannot smuggle '..'", "[unpack][hostile]") {
  // libarchive 3.6 ends a PAX path at the first NUL, so what follows is never seen; the
  // part before is validated like any path.
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  sb.unpack(TarBuilder().file(std::string("ok\0/../../outside/evil", 22), "x").finish(), o);
  sb.require_outside_untouched();
  REQUIRE(strata::util::read_file(sb.root() / "ok") == "x");
  require_rejected(sb, TarBuilder().file(std::string("../outside/evil\0ok", 18), "x").finish(),
                   "entry '../outside/evil'", "'..'", o);
}

TEST_CASE("hostile: parent component is a file", "[unpack][hostile]") {
  const UnpackOptions o = resolver_options();
  UnpackSandbox sb;
  require_rejected(sb, TarBuilder().file("f", "x").file("f/g", "y").finish(), "entry 'f/g'",
                   "'f' is not a directory", o);
}

TEST_CASE("hostile: malformed archives", "[unpack][hostile]") {
  UnpackSandbox sb;
  const std::string tar = TarBuilder().file("a", std::string(2000, 'x')).finish();
  require_rejected(sb, tar.substr(0, 1000), "entry 'a'", "cannot read file data", {});
  std::string bad_sum = TarBuilder().file("a", "x").file("b", "y").finish();
  bad_sum[1024 + 148] = '7';  // checksum of the second header
  require_rejected(sb, bad_sum, "entry after 'a'", "invalid tar header", {});
  bad_sum[148] = '7';  // a first header that is not tar at all
  require_rejected(sb, bad_sum, "", "not a tar archive", {});
  require_rejected(sb, std::string(3000, 'z'), "", "not a tar archive", {});
  UnpackOptions o;
  o.max_entries = 2;
  require_rejected(sb, TarBuilder().file("a", "").file("b", "").file("c", "").finish(), "entry 'c'",
                   "more than 2 entries", o);
}
