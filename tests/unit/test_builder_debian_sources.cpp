// Finding the Debian mirror from STRATA_DEBIAN_MIRROR or fake /etc/apt trees.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "builder/debian/sources.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace strata::builder::debian;
using strata::util::Error;
using strata::util::ErrorKind;
namespace fs = std::filesystem;

namespace {

void put(const fs::path& root, const std::string& rel, const std::string& text) {
  fs::create_directories((root / rel).parent_path());
  strata::util::write_file_atomic(root / rel, text);
}

const std::optional<std::string> k_no_env;

}  // namespace

TEST_CASE("one-line sources.list with options and comments", "[debian][sources]") {
  strata::util::TempDir root("sources");
  put(root.path(), "etc/apt/sources.list",
      "# deb http://mirror.invalid/commented bookworm main\n"
      "\n"
      "deb-src http://mirror.invalid/src bookworm main\n"
      "deb http://mirror.invalid/debian-security bookworm-security main\n"
      "deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
      "http://127.0.0.1:8080/debian/ bookworm main contrib # trailing comment\n"
      "deb [ trusted=yes ] http://mirror.invalid/other trixie main\n");
  const auto all = read_apt_sources(root.path());
  REQUIRE(all.size() == 4);
  CHECK(all[0].type == "deb-src");
  const AptSource& s = all[2];
  CHECK(s.type == "deb");
  CHECK(s.uri == "http://127.0.0.1:8080/debian");  // trailing '/' dropped
  CHECK(s.suite == "bookworm");
  CHECK(s.components == std::vector<std::string>{"main", "contrib"});
  CHECK(s.architectures == std::vector<std::string>{"amd64", "arm64"});
  CHECK(s.signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg");
  CHECK(s.origin == (root.path() / "etc/apt/sources.list").string() + ":5");
  CHECK(all[3].uri == "http://mirror.invalid/other");

  const DebianMirror m = find_debian_mirror(root.path(), k_no_env);
  CHECK(m.uri == "http://127.0.0.1:8080/debian");
  CHECK(m.signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg");
  CHECK(m.origin == s.origin);
}

TEST_CASE("deb822 .sources files, skipping updates and security", "[debian][sources]") {
  strata::util::TempDir root("sources");
  put(root.path(), "etc/apt/sources.list.d/debian.sources",
      "Types: deb\n"
      "# http://snapshot.invalid/archive/debian/20250520T000000Z\n"
      "URIs: http://mirror.invalid/debian-security\n"
      "Suites: trixie-security\n"
      "Components: main\n"
      "\n"
      "Types: deb deb-src\n"
      "URIs: http://mirror.invalid/debian/\n"
      "Suites: trixie-updates trixie\n"
      "Components: main non-free-firmware\n"
      "Architectures: amd64\n"
      "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n");
  const auto all = read_apt_sources(root.path());
  REQUIRE(all.size() == 5);  // 1 + 2 types x 2 suites
  CHECK(all[1].suite == "trixie-updates");
  CHECK(all[2].suite == "trixie");
  CHECK(all[2].architectures == std::vector<std::string>{"amd64"});
  const DebianMirror m = find_debian_mirror(root.path(), k_no_env);
  CHECK(m.uri == "http://mirror.invalid/debian");
  CHECK(m.signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg");
  CHECK(m.origin == (root.path() / "etc/apt/sources.list.d/debian.sources").string() + ":7");
}

TEST_CASE("apt's file order: sources.list, then sources.list.d by name", "[debian][sources]") {
  strata::util::TempDir root("sources");
  put(root.path(), "etc/apt/sources.list", "deb http://mirror.invalid/ubuntu jammy main\n");
  put(root.path(), "etc/apt/sources.list.d/b.list", "deb http://mirror.invalid/b bookworm main\n");
  put(root.path(), "etc/apt/sources.list.d/a.sources",
      "Types: deb\nURIs: http://mirror.invalid/a\nSuites: bookworm\nComponents: main\n"
      "Enabled: no\n");
  put(root.path(), "etc/apt/sources.list.d/0.list.disabled",
      "deb http://mirror.invalid/disabled bookworm main\n");
  put(root.path(), "etc/apt/sources.list.d/bad~name.list",
      "deb http://mirror.invalid/ignored bookworm main\n");
  const DebianMirror m = find_debian_mirror(root.path(), k_no_env);
  CHECK(m.uri == "http://mirror.invalid/b");  // jammy is not Debian; a.sources is disabled
  const auto all = read_apt_sources(root.path());
  REQUIRE(all.size() == 2);
}

TEST_CASE("STRATA_DEBIAN_MIRROR overrides the apt sources", "[debian][sources]") {
  strata::util::TempDir root("sources");
  put(root.path(), "etc/apt/sources.list", "deb http://mirror.invalid/debian bookworm main\n");
  const DebianMirror m =
      find_debian_mirror(root.path(), std::string("http://127.0.0.1:9/debian/"));
  CHECK(m.uri == "http://127.0.0.1:9/debian");
  CHECK(m.origin == "STRATA_DEBIAN_MIRROR");
  // An empty variable counts as unset.
  CHECK(find_debian_mirror(root.path(), std::string()).uri == "http://mirror.invalid/debian");
  try {
    (void)find_debian_mirror(root.path(), std::string("mirror.invalid/debian"));
    FAIL("accepted a URL without scheme");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::InvalidInput);
    CHECK(std::string(e.what()).find("STRATA_DEBIAN_MIRROR") != std::string::npos);
  }
  // The overload without a value reads the real environment variable.
  REQUIRE(::setenv("STRATA_DEBIAN_MIRROR", "file:/srv/debian", 1) == 0);
  const DebianMirror from_env = find_debian_mirror(root.path());
  ::unsetenv("STRATA_DEBIAN_MIRROR");
  CHECK(from_env.uri == "file:/srv/debian");
  CHECK(find_debian_mirror(root.path()).uri == "http://mirror.invalid/debian");
}

TEST_CASE("no usable source is NotFound with advice", "[debian][sources]") {
  strata::util::TempDir root("sources");
  auto expect_not_found = [&] {
    try {
      (void)find_debian_mirror(root.path(), k_no_env);
      FAIL("found a mirror");
    } catch (const Error& e) {
      INFO(e.what());
      CHECK(e.kind() == ErrorKind::NotFound);
      CHECK(std::string(e.what()).find("set STRATA_DEBIAN_MIRROR") != std::string::npos);
    }
  };
  expect_not_found();  // no /etc/apt at all
  put(root.path(), "etc/apt/sources.list",
      "deb http://mirror.invalid/debian bookworm-updates main\n"
      "deb http://mirror.invalid/debian-security bookworm/updates main\n"
      "deb http://mirror.invalid/debian bookworm-backports main\n"
      "deb-src http://mirror.invalid/debian bookworm main\n"
      "deb cdrom:[Debian GNU/Linux 12]/ bookworm main\n");
  expect_not_found();
}

TEST_CASE("malformed sources are errors naming file:line", "[debian][sources]") {
  strata::util::TempDir root("sources");
  put(root.path(), "etc/apt/sources.list", "\ndeb http://mirror.invalid/debian\n");
  try {
    (void)read_apt_sources(root.path());
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::InvalidInput);
    CHECK(std::string(e.what()).find("sources.list:2") != std::string::npos);
  }
  CHECK_THROWS_AS(parse_sources_list("deb [arch=amd64 http://x bookworm main\n", "f"), Error);
  CHECK_THROWS_AS(parse_sources_list("rpm http://x bookworm main\n", "f"), Error);
  CHECK_THROWS_AS(parse_sources_deb822("Types: deb\nSuites: bookworm\n", "f"), Error);
  // A flat repository ("suite/") needs no components.
  CHECK(parse_sources_list("deb [trusted=yes] file:/srv/repo ./\n", "f").size() == 1);
}

TEST_CASE("Debian release suites", "[debian][sources]") {
  for (const char* s : {"bookworm", "trixie", "sid", "stable", "testing", "unstable", "bullseye",
                        "oldstable", "forky"}) {
    CHECK(is_debian_release_suite(s));
  }
  for (const char* s : {"bookworm-updates", "bookworm-security", "bookworm/updates",
                        "bookworm-backports", "stable-updates", "jammy", "focal", "experimental",
                        "", "./"}) {
    CHECK_FALSE(is_debian_release_suite(s));
  }
}
