// Packages indexes: plain, xz and gzip (compressed here with the real xz/gzip tools),
// parsed into the package model with the fields the lock and the fetcher rely on.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "builder/debian/packages_index.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace strata::builder::debian;
using strata::util::Error;
using strata::util::ErrorKind;

namespace {

const std::string k_sha_a(64, 'a');
const std::string k_sha_b = "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef";

std::string sample_index() {
  return "Package: libc6\n"
         "Source: glibc (2.36-9)\n"
         "Version: 2.36-9+deb12u4\n"
         "Installed-Size: 12989\n"
         "Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\n"
         "Architecture: amd64\n"
         "Multi-Arch: same\n"
         "Replaces: libc6-amd64\n"
         "Depends: libgcc-s1\n"
         "Recommends: libidn2-0 (>= 2.0.5~)\n"
         "Breaks: busybox (<< 1.30.1-6), hurd (<< 1:0.9.git20220301-2),\n"
         " libc6-dev-x32 (<< 2.36-9)\n"
         "Description: GNU C Library: Shared libraries\n"
         " Contains the standard libraries.\n"
         "Section: libs\n"
         "Priority: optional\n"
         "Filename: pool/main/g/glibc/libc6_2.36-9+deb12u4_amd64.deb\n"
         "Size: 2757936\n"
         "SHA256: " + k_sha_a + "\n"
         "\n"
         "Package: dash\n"
         "Version: 0.5.12-2\n"
         "Architecture: amd64\n"
         "Essential: yes\n"
         "Pre-Depends: libc6 (>= 2.34), debianutils (>= 5.6-0.1)\n"
         "Provides: sh (= 0.5.12-2), posix-shell\n"
         "Conflicts: ash (<< 0.5)\n"
         "Priority: required\n"
         "Section: shells\n"
         "Filename: pool/main/d/dash/dash_0.5.12-2_amd64.deb\n"
         "Size: 92380\n"
         "SHA256: " + k_sha_b + "\n";
}

void check_sample(const std::vector<Package>& pkgs) {
  REQUIRE(pkgs.size() == 2);
  const Package& libc = pkgs[0];
  CHECK(libc.name == "libc6");
  CHECK(libc.source == "glibc");
  CHECK(libc.version == "2.36-9+deb12u4");
  CHECK(libc.architecture == "amd64");
  CHECK(libc.multi_arch == MultiArch::Same);
  CHECK_FALSE(libc.essential);
  CHECK(libc.priority == "optional");
  CHECK(libc.section == "libs");
  REQUIRE(libc.depends.size() == 1);
  CHECK(libc.depends[0][0].name == "libgcc-s1");
  REQUIRE(libc.breaks.size() == 3);  // a folded field
  CHECK(libc.breaks[1][0].version == "1:0.9.git20220301-2");
  CHECK(libc.recommends[0][0].op == RelOp::GreaterEq);
  CHECK(libc.filename == "pool/main/g/glibc/libc6_2.36-9+deb12u4_amd64.deb");
  CHECK(libc.size == 2757936);
  CHECK(libc.sha256 == k_sha_a);
  CHECK(libc.archive == "bookworm/main");

  const Package& dash = pkgs[1];
  CHECK(dash.source == "dash");  // defaults to the package name
  CHECK(dash.essential);
  CHECK(dash.multi_arch == MultiArch::No);
  CHECK(dash.priority == "required");
  REQUIRE(dash.pre_depends.size() == 2);
  REQUIRE(dash.provides.size() == 2);
  CHECK(dash.provides[0][0].name == "sh");
  CHECK(dash.provides[0][0].op == RelOp::Eq);
  CHECK(dash.conflicts[0][0].op == RelOp::Less);
  CHECK(dash.size == 92380);
  // Upper-case hex is normalised so it compares equal to computed digests.
  CHECK(dash.sha256 == "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
}

void run(const std::string& command) {
  INFO(command);
  REQUIRE(std::system(command.c_str()) == 0);
}

std::vector<Package> parse_text(const std::string& text) {
  strata::util::StringSource source(text);
  return parse_packages(source, "dists/bookworm/main/binary-amd64/Packages");
}

template <typename F>
void expect_invalid(F&& f, std::initializer_list<std::string> fragments) {
  try {
    f();
    FAIL("no error");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == ErrorKind::InvalidInput);
    for (const std::string& s : fragments) {
      CHECK(std::string(e.what()).find(s) != std::string::npos);
    }
  }
}

}  // namespace

TEST_CASE("plain, xz and gzip Packages files parse to the same packages", "[debian][index]") {
  strata::util::TempDir tmp("index");
  const auto plain = tmp.path() / "Packages";
  strata::util::write_file_atomic(plain, sample_index());
  run("xz -k -9 '" + plain.string() + "'");
  run("gzip -n -k -9 '" + plain.string() + "'");
  PackageOptions options;
  options.archive = "bookworm/main";
  for (const char* name : {"Packages", "Packages.xz", "Packages.gz"}) {
    INFO(name);
    check_sample(parse_packages_file(tmp.path() / name, options));
  }
}

TEST_CASE("a large compressed index streams through", "[debian][index]") {
  strata::util::TempDir tmp("index");
  std::string text;
  for (int i = 0; i < 20000; ++i) {
    text += "Package: p" + std::to_string(i) + "\nVersion: 1." + std::to_string(i) +
            "-1\nArchitecture: all\nDepends: p" + std::to_string(i + 1) +
            "\nFilename: pool/main/p/p" + std::to_string(i) + ".deb\nSize: " + std::to_string(i) +
            "\nSHA256: " + k_sha_a + "\nDescription: d\n " + std::string(200, 'y') + "\n\n";
  }
  const auto path = tmp.path() / "Packages";
  strata::util::write_file_atomic(path, text);
  run("xz -T1 -0 '" + path.string() + "'");
  const auto pkgs = parse_packages_file(tmp.path() / "Packages.xz");
  REQUIRE(pkgs.size() == 20000);
  CHECK(pkgs[19999].name == "p19999");
  CHECK(pkgs[19999].version == "1.19999-1");
  CHECK(pkgs[12345].size == 12345);
}

TEST_CASE("empty indexes, plain or compressed, hold no packages", "[debian][index]") {
  strata::util::TempDir tmp("index");
  const auto path = tmp.path() / "Packages";
  strata::util::write_file_atomic(path, "");
  CHECK(parse_packages_file(path).empty());
  run("gzip -n -k '" + path.string() + "'");
  CHECK(parse_packages_file(tmp.path() / "Packages.gz").empty());
}

TEST_CASE("a truncated compressed index is Corruption naming the file", "[debian][index]") {
  strata::util::TempDir tmp("index");
  const auto path = tmp.path() / "Packages";
  strata::util::write_file_atomic(path, sample_index() + std::string(5000, '\n'));
  run("xz '" + path.string() + "'");
  std::string data = strata::util::read_file(tmp.path() / "Packages.xz");
  data.resize(data.size() / 2);
  const auto cut = tmp.path() / "cut.xz";
  strata::util::write_file_atomic(cut, data);
  try {
    (void)parse_packages_file(cut);
    FAIL("truncated index accepted");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == ErrorKind::Corruption);
    CHECK(std::string(e.what()).find("cut.xz") != std::string::npos);
  }
}

TEST_CASE("invalid stanzas are errors naming index:line and the field", "[debian][index]") {
  const std::string good_tail =
      "Architecture: amd64\nFilename: pool/a.deb\nSize: 1\nSHA256: " + k_sha_a + "\n";
  expect_invalid([&] { parse_text("Package: a\nVersion: x1\n" + good_tail); },
                 {"binary-amd64/Packages:2", "Version", "x1"});
  expect_invalid([&] { parse_text("Package: a\nVersion: 1\nDepends: b (>= \n" + good_tail); },
                 {"Packages:3", "Depends"});
  expect_invalid([&] { parse_text("Package: a\nVersion: 1\nMulti-Arch: sometimes\n" + good_tail); },
                 {"Packages:3", "Multi-Arch", "sometimes"});
  expect_invalid([&] { parse_text("Package: A_B\nVersion: 1\n" + good_tail); },
                 {"Packages:1", "invalid package name"});
  expect_invalid(
      [&] {
        parse_text("\nPackage: a\nVersion: 1\nArchitecture: amd64\nFilename: pool/a.deb\nSize: 1\n");
      },
      {"Packages:2", "SHA256"});
  expect_invalid(
      [&] {
        parse_text("Package: a\nVersion: 1\nArchitecture: amd64\nFilename: pool/a.deb\n"
                   "Size: 12x\nSHA256: " + k_sha_a + "\n");
      },
      {"Packages:5", "Size", "12x"});
  expect_invalid(
      [&] {
        parse_text("Package: a\nVersion: 1\nArchitecture: amd64\nFilename: pool/a.deb\n"
                   "Size: 1\nSHA256: abc\n");
      },
      {"Packages:6", "SHA256", "64 hex"});
  for (const char* path : {"/etc/passwd", "pool/../../etc/passwd", "pool//a.deb", "./a.deb"}) {
    expect_invalid(
        [&] {
          parse_text(std::string("Package: a\nVersion: 1\nArchitecture: amd64\nFilename: ") +
                     path + "\nSize: 1\nSHA256: " + k_sha_a + "\n");
        },
        {"Filename", path});
  }
}

TEST_CASE("dpkg status stanzas parse without download fields", "[debian][index]") {
  const auto stanzas = parse_control(
      "Package: base-files\nStatus: install ok installed\nPriority: required\n"
      "Essential: yes\nVersion: 12.4+deb12u5\nArchitecture: amd64\n",
      "var/lib/dpkg/status");
  REQUIRE(stanzas.size() == 1);
  PackageOptions status;
  status.require_download_fields = false;
  const Package p = package_from_stanza(stanzas[0], status);
  CHECK(p.name == "base-files");
  CHECK(p.essential);
  CHECK(p.filename.empty());
  CHECK(p.size == 0);
  CHECK_THROWS_AS(package_from_stanza(stanzas[0]), Error);  // an index needs them
}
