// The unpacker's overlay mode (UnpackOptions::overlay_whiteouts): one layer unpacked as an
// overlayfs layer directory, whiteouts as character devices 0:0, opaque directories as
// xattrs. As root the opaque marker is trusted.overlay.opaque; otherwise the tests use
// overlay_userxattr (user.overlay.opaque), as strata itself does when not root.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "tests/unit/tar_fixture.hpp"
#include "tests/unit/unpack_fixture.hpp"

using Catch::Matchers::Contains;
using strata::oci::UnpackOptions;
using strata::test::EntryOptions;
using strata::test::exists_nofollow;
using strata::test::TarBuilder;
using strata::test::UnpackSandbox;
using strata::util::Error;
using strata::util::ErrorKind;
using strata::util::read_file;
namespace fs = std::filesystem;

namespace {

UnpackOptions overlay_options() {
  UnpackOptions o;
  o.overlay_whiteouts = true;
  o.overlay_userxattr = ::geteuid() != 0;
  o.use_openat2 = GENERATE(true, false);
  return o;
}

const char* opaque_key(const UnpackOptions& o) {
  return o.overlay_userxattr ? "user.overlay.opaque" : "trusted.overlay.opaque";
}

bool is_whiteout(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

// The value of xattr `key` on `p`, or "<none>".
std::string xattr_of(const fs::path& p, const char* key) {
  char buf[256];
  const ssize_t n = ::lgetxattr(p.c_str(), key, buf, sizeof buf);
  return n < 0 ? std::string("<none>") : std::string(buf, static_cast<std::size_t>(n));
}

// Every path under `root` whose name starts with ".wh.".
std::vector<std::string> wh_names(const fs::path& root) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.path().filename().string().starts_with(".wh.")) {
      out.push_back(fs::relative(e.path(), root).string());
    }
  }
  return out;
}

}  // namespace

TEST_CASE("overlay unpack: whiteouts become 0:0 devices, opaque markers become xattrs",
          "[unpack][overlay]") {
  const UnpackOptions o = overlay_options();
  UnpackSandbox sb;
  const std::string layer = TarBuilder()
                                .dir("./")
                                .file(".wh.gone", "")
                                .dir("a/")
                                .file("a/.wh.deleted", "")
                                .file("a/kept", "k")
                                .dir("opt/")
                                .file("opt/.wh..wh..opq", "")
                                .file("opt/new", "n")
                                .file("implied/dir/.wh.deep", "")
                                .finish();
  const auto stats = sb.unpack(layer, o);
  CHECK(stats.whiteouts == 4);
  CHECK(is_whiteout(sb.root() / "gone"));
  CHECK(is_whiteout(sb.root() / "a/deleted"));
  CHECK(is_whiteout(sb.root() / "implied/dir/deep"));
  CHECK(read_file(sb.root() / "a/kept") == "k");
  CHECK(read_file(sb.root() / "opt/new") == "n");
  CHECK(xattr_of(sb.root() / "opt", opaque_key(o)) == "y");
  CHECK(xattr_of(sb.root() / "a", opaque_key(o)) == "<none>");
  CHECK(wh_names(sb.root()).empty());
  sb.require_outside_untouched();
}

TEST_CASE("overlay unpack: a whiteout of a name the layer itself has", "[unpack][overlay]") {
  const UnpackOptions o = overlay_options();
  UnpackSandbox sb;
  // Tar order puts ".wh.x" before "x"; the reverse order must give the same result.
  const bool marker_first = GENERATE(true, false);
  TarBuilder tar;
  if (marker_first) {
    tar.file(".wh.file", "").file(".wh.dir", "");
  }
  tar.file("file", "new content").dir("dir/").file("dir/inside", "i");
  if (!marker_first) {
    tar.file(".wh.file", "").file(".wh.dir", "");
  }
  sb.unpack(tar.finish(), o);
  // The layer's file already hides the lower one; the layer's directory replaces the lower
  // directory instead of merging with it, so it is opaque.
  CHECK(read_file(sb.root() / "file") == "new content");
  CHECK(xattr_of(sb.root() / "file", opaque_key(o)) == "<none>");
  CHECK(fs::is_directory(fs::symlink_status(sb.root() / "dir")));
  CHECK(xattr_of(sb.root() / "dir", opaque_key(o)) == "y");
  CHECK(read_file(sb.root() / "dir/inside") == "i");
}

TEST_CASE("overlay unpack: the opaque xattr namespace follows overlay_userxattr",
          "[unpack][overlay]") {
  UnpackOptions o;
  o.overlay_whiteouts = true;
  o.overlay_userxattr = true;
  UnpackSandbox sb;
  sb.unpack(TarBuilder().dir("d/").file("d/.wh..wh..opq", "").finish(), o);
  CHECK(xattr_of(sb.root() / "d", "user.overlay.opaque") == "y");
  CHECK(xattr_of(sb.root() / "d", "trusted.overlay.opaque") == "<none>");
  if (::geteuid() == 0) {
    UnpackSandbox sb2;
    o.overlay_userxattr = false;
    sb2.unpack(TarBuilder().dir("d/").file("d/.wh..wh..opq", "").finish(), o);
    CHECK(xattr_of(sb2.root() / "d", "trusted.overlay.opaque") == "y");
    CHECK(xattr_of(sb2.root() / "d", "user.overlay.opaque") == "<none>");
  }
}

TEST_CASE("overlay unpack: overlay xattrs carried by entries are dropped", "[unpack][overlay]") {
  const UnpackOptions o = overlay_options();
  UnpackSandbox sb;
  // A hostile layer could otherwise make a directory opaque or redirect it to another lower
  // path without any OCI marker.
  const std::string layer =
      TarBuilder()
          .dir("d/", {.xattrs = {{"trusted.overlay.redirect", "/etc"},
                                 {"user.overlay.opaque", "y"},
                                 {"user.kept", "v"}}})
          .file("f", "x", {.xattrs = {{"trusted.overlay.metacopy", ""}, {"user.kept", "w"}}})
          .finish();
  sb.unpack(layer, o);
  CHECK(xattr_of(sb.root() / "d", "trusted.overlay.redirect") == "<none>");
  CHECK(xattr_of(sb.root() / "d", "user.overlay.opaque") == "<none>");
  CHECK(xattr_of(sb.root() / "d", "user.kept") == "v");
  CHECK(xattr_of(sb.root() / "f", "trusted.overlay.metacopy") == "<none>");
  CHECK(xattr_of(sb.root() / "f", "user.kept") == "w");
}

TEST_CASE("overlay unpack: refuses a non-empty root and invalid markers", "[unpack][overlay]") {
  const UnpackOptions o = overlay_options();
  {
    UnpackSandbox sb;
    strata::util::write_file_atomic(sb.root() / "lower-content", "x");
    try {
      sb.unpack(TarBuilder().file("f", "x").finish(), o);
      FAIL("a non-empty root was accepted");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::InvalidInput);
      CHECK_THAT(e.what(), Contains("empty directory"));
    }
    CHECK_FALSE(exists_nofollow(sb.root() / "f"));
  }
  for (const char* bad : {"d/.wh..wh.plnk", ".wh.", "../.wh.x"}) {
    UnpackSandbox sb;
    try {
      sb.unpack(TarBuilder().dir("d/").file(bad, "").finish(), o);
      FAIL(std::string("accepted ") + bad);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::InvalidInput);
    }
    sb.require_outside_untouched();
  }
}

TEST_CASE("overlay unpack: a whiteout under a symlinked directory stays inside the root",
          "[unpack][overlay]") {
  const UnpackOptions o = overlay_options();
  {
    UnpackSandbox sb;
    sb.unpack(TarBuilder().symlink("inroot", "real").dir("real/").file("inroot/.wh.x", "").finish(),
              o);
    CHECK(is_whiteout(sb.root() / "real/x"));
    CHECK(fs::is_symlink(sb.root() / "inroot"));
  }
  UnpackSandbox sb;
  const std::string layer =
      TarBuilder().symlink("escape", "../outside").file("escape/.wh.keep", "").finish();
  try {
    sb.unpack(layer, o);
    CHECK(is_whiteout(sb.root() / "outside/keep"));  // "../outside" resolved in the root
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::InvalidInput);  // refusing is fine too
  }
  sb.require_outside_untouched();
}
