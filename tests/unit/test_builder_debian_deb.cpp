// Reading .deb files: real packages from dpkg-deb in every compression, and broken ones.
#include <catch2/catch.hpp>

#include <archive.h>
#include <archive_entry.h>

#include <string>
#include <vector>

#include "builder/debian/deb_file.hpp"
#include "deb_fixture.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace strata::builder::debian;
using namespace deb_fixture;
using strata::util::Error;
using strata::util::ErrorKind;
using strata::util::TempDir;

namespace {

Pkg sample() {
  Pkg p;
  p.files = {{"etc/hello.conf", "setting=1\n"}, {"usr/share/doc/hello/README", "read me\n"}};
  p.executables = {{"usr/bin/hello", "#!/bin/sh\necho hello\n"}};
  p.symlinks = {{"usr/bin/hi", "hello"}};
  p.conffiles = {"/etc/hello.conf"};
  p.scripts = {{"postinst", "#!/bin/sh\nexit 0\n"}};
  return p;
}

std::vector<std::string> data_paths(DebReader& reader) {
  std::vector<std::string> paths;
  reader.for_each_data_entry([&](archive*, archive_entry* e) {
    paths.emplace_back(archive_entry_pathname(e));
  });
  return paths;
}

template <typename F>
std::string error_of(F&& f, ErrorKind kind = ErrorKind::InvalidInput) {
  try {
    f();
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == kind);
    return e.what();
  }
  FAIL("no error thrown");
  return {};
}

}  // namespace

TEST_CASE("dpkg-deb packages are read in every compression") {
  for (const std::string z : {"xz", "zstd", "gzip", "none"}) {
    TempDir dir("deb");
    const auto deb = build_deb(dir.path(), sample(), z);
    DebReader reader(deb);
    INFO(z << " " << reader.control().data_member);
    CHECK(reader.control().control.get("Package") == "hello");
    CHECK(reader.control().control.get("Version") == "1.0-1");
    CHECK(reader.control().control.get("Description").find("Second paragraph.") !=
          std::string::npos);
    const auto& files = reader.control().files;
    REQUIRE(files.count("postinst") == 1);
    CHECK(files.at("postinst").mode == 0755);
    CHECK(files.at("conffiles").content == "/etc/hello.conf\n");
    CHECK(files.at("md5sums").content.find("usr/bin/hello") != std::string::npos);
    const std::string expected_member =
        z == "none" ? "data.tar" : z == "gzip" ? "data.tar.gz" : z == "xz" ? "data.tar.xz"
                                                                           : "data.tar.zst";
    CHECK(reader.control().data_member == expected_member);
    const auto paths = data_paths(reader);
    const std::string listing = sh("dpkg-deb --fsys-tarfile '" + deb.string() + "' | tar -t");
    std::string ours;
    for (const auto& p : paths) {
      ours += p + "\n";
    }
    CHECK(ours == listing);
  }
}

TEST_CASE("data.tar can only be streamed once") {
  TempDir dir("deb");
  DebReader reader(build_deb(dir.path(), sample()));
  data_paths(reader);
  CHECK_THROWS_AS(data_paths(reader), Error);
}

TEST_CASE("a file that is not an ar archive is refused naming the file") {
  TempDir dir("deb");
  const auto path = dir.path() / "bad.deb";
  write(path, make_ar({{"debian-binary", "2.0\n"}}, "!<arhc>\n"));
  const std::string msg = error_of([&] { DebReader r(path); });
  CHECK(msg.find("bad.deb") != std::string::npos);
  CHECK(msg.find("ar archive magic") != std::string::npos);
  CHECK_THROWS_AS(DebReader(dir.path() / "missing.deb"), Error);
}

TEST_CASE("member order and names are validated") {
  TempDir dir("deb");
  const std::string control =
      make_tar({{"./control", AE_IFREG, k_control, "", "", 0644}});
  const std::string data = make_tar({{"./", AE_IFDIR, "", "", "", 0755}});
  const auto path = dir.path() / "x.deb";

  write(path, make_ar({{"debian-binary", "2.0\n"}, {"data.tar", data}}));
  std::string msg = error_of([&] { DebReader r(path); });
  CHECK(msg.find("'data.tar'") != std::string::npos);
  CHECK(msg.find("expected control.tar") != std::string::npos);

  write(path, make_ar({{"control.tar", control}, {"debian-binary", "2.0\n"}}));
  msg = error_of([&] { DebReader r(path); });
  CHECK(msg.find("expected \"debian-binary\"") != std::string::npos);

  write(path, make_ar({{"debian-binary", "3.0\n"}, {"control.tar", control}, {"data.tar", data}}));
  msg = error_of([&] { DebReader r(path); });
  CHECK(msg.find("format version") != std::string::npos);

  write(path, make_ar({{"debian-binary", "2.0\n"}, {"control.tar", control}}));
  msg = error_of([&] { DebReader r(path); });
  CHECK(msg.find("no data.tar member") != std::string::npos);

  write(path,
        make_ar({{"debian-binary", "2.0\n"}, {"control.tar", control}, {"data.tar.lzma", data}}));
  error_of([&] { DebReader r(path); }, ErrorKind::Unsupported);

  // Reserved "_" members are skipped, as dpkg does.
  write(path, make_ar({{"debian-binary", "2.0\n"},
                       {"_gpgorigin", "sig"},
                       {"control.tar", control},
                       {"data.tar", data}}));
  DebReader ok(path);
  CHECK(ok.control().control.get("Package") == "evil");
}

TEST_CASE("control.tar without a control file or with bad content is refused") {
  TempDir dir("deb");
  const std::string data = make_tar({{"./", AE_IFDIR, "", "", "", 0755}});
  const auto path = dir.path() / "c.deb";

  write(path, make_ar({{"debian-binary", "2.0\n"},
                       {"control.tar", make_tar({{"./postinst", AE_IFREG, "x", "", "", 0755}})},
                       {"data.tar", data}}));
  std::string msg = error_of([&] { DebReader r(path); });
  CHECK(msg.find("c.deb") != std::string::npos);
  CHECK(msg.find("no \"control\" file") != std::string::npos);

  write(path, make_ar({{"debian-binary", "2.0\n"},
                       {"control.tar",
                        make_tar({{"./control", AE_IFREG, "Package: x\nVersion: 1\n", "", "", 0644}})},
                       {"data.tar", data}}));
  msg = error_of([&] { DebReader r(path); });
  CHECK(msg.find("Architecture") != std::string::npos);

  write(path, make_ar({{"debian-binary", "2.0\n"},
                       {"control.tar", make_tar({{"./sub/control", AE_IFREG, k_control, "", "", 0644}})},
                       {"data.tar", data}}));
  msg = error_of([&] { DebReader r(path); });
  CHECK(msg.find("not a plain file") != std::string::npos);
}

TEST_CASE("a truncated package is refused") {
  TempDir dir("deb");
  const auto deb = build_deb(dir.path(), sample(), "xz");
  std::string bytes = strata::util::read_file(deb);
  const auto cut = dir.path() / "cut.deb";
  write(cut, bytes.substr(0, bytes.size() - 40));
  CHECK_THROWS_AS(
      [&] {
        DebReader r(cut);
        data_paths(r);
      }(),
      Error);
}
