// Installing .debs into a tree: the result must match `dpkg-deb -x`, and the dpkg database
// must be what `dpkg --unpack` writes, readable by dpkg-query and dpkg -l.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <map>
#include <string>

#include "builder/debian/installer.hpp"
#include "deb_fixture.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace strata::builder::debian;
using namespace deb_fixture;
using strata::util::Error;
using strata::util::ErrorKind;
using strata::util::TempDir;
using strata::util::read_file;

namespace {

Pkg sample(const std::string& name = "hello") {
  Pkg p;
  p.name = name;
  p.extra_fields =
      "Priority: optional\nSection: misc\nHomepage: https://example.org\n"
      "Depends: libc6 (>= 2.36)\nRecommends: less\nMulti-Arch: foreign\n";
  p.files = {{"etc/" + name + ".conf", "setting=1\n"},
             {"usr/share/doc/" + name + "/README", "read me\n"}};
  p.executables = {{"usr/bin/" + name, "#!/bin/sh\necho hello\n"}};
  p.symlinks = {{"usr/bin/" + name + "-link", name}};
  p.conffiles = {"/etc/" + name + ".conf"};
  p.scripts = {{"postinst", "#!/bin/sh\nexit 0\n"}, {"prerm", "#!/bin/sh\nexit 0\n"}};
  p.triggers = "interest-noawait /usr/share/" + name + "/plugins\n";
  return p;
}

// path -> "type mode uid:gid mtime content-or-target" for everything below root,
// except the dpkg database. Directory mtimes are left out: GNU tar (behind dpkg-deb -x)
// and dpkg touch a directory when they create a delayed symlink in it, after restoring
// its time; the installer keeps the header's time (checked by all_times_are).
std::map<std::string, std::string> describe(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const std::string rel = fs::relative(it->path(), root).string();
    if (rel == "var/lib/dpkg" || rel == "var/lib" || rel == "var") {
      if (rel == "var/lib/dpkg") {
        it.disable_recursion_pending();
      }
      continue;
    }
    struct stat st {};
    REQUIRE(::lstat(it->path().c_str(), &st) == 0);
    std::string d = std::to_string(st.st_mode & S_IFMT) + " " + std::to_string(st.st_mode & 07777) +
                    " " + std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid) + " " +
                    (S_ISDIR(st.st_mode) ? std::string("-") : std::to_string(st.st_mtime)) + " ";
    if (S_ISLNK(st.st_mode)) {
      d += fs::read_symlink(it->path()).string();
    } else if (S_ISREG(st.st_mode)) {
      d += read_file(it->path());
    }
    out[rel] = d;
  }
  return out;
}

// Every object below root (but the dpkg database) has mtime `t`.
void all_times_are(const fs::path& root, time_t t) {
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    if (it->path().filename() == "dpkg") {
      it.disable_recursion_pending();
      continue;
    }
    struct stat st {};
    REQUIRE(::lstat(it->path().c_str(), &st) == 0);
    INFO(it->path());
    if (it->path() != root / "var" && it->path() != root / "var/lib") {
      CHECK(st.st_mtime == t);
    }
  }
}

std::string admin(const fs::path& root) { return "'" + (root / "var/lib/dpkg").string() + "'"; }

}  // namespace

TEST_CASE("installed tree matches dpkg-deb -x in every compression") {
  for (const std::string z : {"xz", "zstd", "gzip"}) {
    TempDir dir("inst");
    const auto deb = build_deb(dir.path(), sample(), z);
    const fs::path ours = dir.path() / "ours";
    const fs::path ref = dir.path() / "ref";
    fs::create_directories(ours);
    fs::create_directories(ref);
    InstallOptions options;
    options.state = PackageState::Installed;  // conffiles in place, as dpkg-deb -x leaves them
    install_debs(ours, {deb}, options);
    sh("dpkg-deb -x '" + deb.string() + "' '" + ref.string() + "'");
    INFO(z);
    const auto a = describe(ours);
    const auto b = describe(ref);
    CHECK(a.size() == b.size());
    all_times_are(ours, 1600000000);
    for (const auto& [path, d] : b) {
      INFO(path);
      REQUIRE(a.count(path) == 1);
      CHECK(a.at(path) == d);
    }
  }
}

TEST_CASE("the dpkg database is byte for byte what dpkg --unpack writes") {
  TempDir dir("inst");
  Pkg p = sample();
  p.extra_fields += "Multi-Arch: same\nSource: hello-src (1.0)\nEssential: no\nX-Custom: kept\n";
  p.extra_fields.replace(p.extra_fields.find("Multi-Arch: foreign\n"), 20, "");
  const auto deb = build_deb(dir.path(), p, "zstd");
  const fs::path ours = dir.path() / "ours";
  const fs::path ref = dir.path() / "ref";
  fs::create_directories(ours);
  fs::create_directories(ref / "var/lib/dpkg/info");
  fs::create_directories(ref / "var/lib/dpkg/updates");
  write(ref / "var/lib/dpkg/status", "");
  install_debs(ours, {deb});
  // The package has no preinst, so dpkg runs no script (which would need a shell in ref).
  sh("dpkg --root='" + ref.string() + "' --force-bad-path --unpack '" + deb.string() + "'");

  CHECK(read_file(ours / "var/lib/dpkg/status") == read_file(ref / "var/lib/dpkg/status"));
  for (const std::string f : {"list", "md5sums", "conffiles", "postinst", "prerm", "triggers"}) {
    const auto name = "var/lib/dpkg/info/hello:amd64." + f;
    INFO(name);
    REQUIRE(fs::exists(ours / name));
    CHECK(read_file(ours / name) == read_file(ref / name));
    CHECK(fs::status(ours / name).permissions() == fs::status(ref / name).permissions());
  }
  CHECK(read_file(ours / "var/lib/dpkg/info/format") == read_file(ref / "var/lib/dpkg/info/format"));
  // Same files on disk too, the conffile still waiting as .dpkg-new.
  CHECK(fs::exists(ours / "etc/hello.conf.dpkg-new"));
  CHECK_FALSE(fs::exists(ours / "etc/hello.conf"));
  CHECK(describe(ours) == describe(ref));
  CHECK(read_file(ours / "var/lib/dpkg/triggers/File") ==
        "/usr/share/hello/plugins hello:amd64/noawait\n");
}

TEST_CASE("dpkg-query and dpkg -l read the database") {
  TempDir dir("inst");
  const fs::path root = dir.path() / "root";
  fs::create_directories(root);
  Pkg a = sample("alpha");
  Pkg b = sample("beta");
  b.extra_fields += "Pre-Depends: alpha\n";
  b.scripts.clear();
  const auto deb_a = build_deb(dir.path(), a);
  const auto deb_b = build_deb(dir.path(), b, "gzip");
  {
    InstallOptions options;
    options.state = PackageState::Installed;
    install_debs(root, {deb_b}, options);
  }
  // A second installation adds to the existing database.
  {
    InstallOptions options;
    options.state = PackageState::Installed;
    install_debs(root, {deb_a}, options);
  }
  CHECK(sh("dpkg-query --admindir=" + admin(root) +
           " -W -f='${Package} ${Version} ${Status} ${Pre-Depends}\\n'") ==
        "alpha 1.0-1 install ok installed \nbeta 1.0-1 install ok installed alpha\n");
  CHECK(sh("dpkg-query --admindir=" + admin(root) + " -L beta") ==
        "/.\n/etc\n/etc/beta.conf\n/usr\n/usr/bin\n/usr/bin/beta\n/usr/share\n/usr/share/doc\n"
        "/usr/share/doc/beta\n/usr/share/doc/beta/README\n/usr/bin/beta-link\n");
  const std::string status = sh("dpkg-query --admindir=" + admin(root) + " -s alpha");
  const std::string md5 = sh("md5sum < '" + (root / "etc/alpha.conf").string() + "'").substr(0, 32);
  CHECK(status.find("Conffiles:\n /etc/alpha.conf " + md5) != std::string::npos);
  CHECK(fs::exists(root / "etc/alpha.conf"));
  const std::string list = sh("dpkg --root='" + root.string() + "' -l");
  CHECK(list.find("ii  alpha") != std::string::npos);
  CHECK(list.find("ii  beta") != std::string::npos);
  CHECK(read_file(root / "var/lib/dpkg/arch") == "amd64\n");
  CHECK(fs::is_directory(root / "var/lib/dpkg/alternatives"));
  CHECK(fs::exists(root / "var/lib/dpkg/available"));
  CHECK(fs::exists(root / "var/lib/dpkg/diversions"));
  CHECK(fs::exists(root / "var/lib/dpkg/statoverride"));
  // dpkg's own consistency check finds nothing to complain about.
  CHECK(sh("dpkg --root='" + root.string() + "' --audit") == "");
}

TEST_CASE("merged /usr redirects /bin and /lib and keeps the package's paths in the list") {
  TempDir dir("inst");
  const fs::path root = dir.path() / "root";
  fs::create_directories(root);
  Pkg p;
  p.name = "coreutils-ish";
  p.executables = {{"bin/ls", "ls\n"}, {"sbin/init", "init\n"}};
  p.files = {{"lib/x86_64-linux-gnu/libfoo.so.1", "lib\n"}, {"usr/bin/other", "o\n"}};
  p.symlinks = {{"bin/dir", "ls"}};
  const auto deb = build_deb(dir.path(), p);
  InstallOptions options;
  options.merged_usr = MergedUsr::Yes;
  options.state = PackageState::Installed;
  install_debs(root, {deb}, options);
  for (const std::string d : {"bin", "sbin", "lib", "lib64"}) {
    INFO(d);
    CHECK(fs::is_symlink(root / d));
    CHECK(fs::read_symlink(root / d) == "usr/" + d);
  }
  CHECK(read_file(root / "usr/bin/ls") == "ls\n");
  CHECK(read_file(root / "usr/sbin/init") == "init\n");
  CHECK(read_file(root / "usr/lib/x86_64-linux-gnu/libfoo.so.1") == "lib\n");
  CHECK(fs::read_symlink(root / "usr/bin/dir") == "ls");
  const std::string list = read_file(root / "var/lib/dpkg/info/coreutils-ish.list");
  CHECK(list.find("\n/bin\n/bin/ls\n") != std::string::npos);
  CHECK(list.find("\n/bin/dir\n") != std::string::npos);
  CHECK(list.find("\n/lib/x86_64-linux-gnu/libfoo.so.1\n") != std::string::npos);
  CHECK(sh("dpkg-query --admindir=" + admin(root) + " -S /bin/ls") == "coreutils-ish: /bin/ls\n");

  // Without merged /usr the same package keeps real directories.
  const fs::path plain = dir.path() / "plain";
  fs::create_directories(plain);
  InstallOptions no;
  no.merged_usr = MergedUsr::No;
  install_debs(plain, {deb}, no);
  CHECK(fs::is_directory(fs::symlink_status(plain / "bin")));
  CHECK(read_file(plain / "bin/ls") == "ls\n");
}

TEST_CASE("hostile packages are refused and nothing lands outside the tree") {
  TempDir dir("inst");
  const fs::path root = dir.path() / "root";
  const fs::path outside = dir.path() / "outside";
  fs::create_directories(outside);

  struct Case {
    const char* what;
    std::vector<TarEntry> entries;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"dotdot", {te("./", AE_IFDIR, "", "", "", 0755), te("./../outside/pwned", AE_IFREG, "x")},
       ".."},
      {"absolute symlink followed",
       {te("./escape", AE_IFLNK, "", dir.path().string() + "/outside"),
        te("./escape/pwned", AE_IFREG, "x")},
       "symlink"},
      {"relative symlink followed",
       {te("./up", AE_IFLNK, "", "../outside"), te("./up/pwned", AE_IFREG, "x")},
       "symlink"},
      {"device node", {te("./dev-null", AE_IFCHR)}, "device"},
      {"hardlink out", {te("./h", AE_IFREG, "", "", "../outside/target")}, ".."},
      {"whiteout name", {te("./.wh.etc", AE_IFREG, "")}, ".wh."},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    fs::remove_all(root);
    fs::create_directories(root);
    const auto deb = hostile_deb(dir.path() / "evil.deb", c.entries);
    try {
      install_debs(root, {deb});
      FAIL("installed a hostile package");
    } catch (const Error& e) {
      INFO(e.what());
      CHECK(e.kind() == ErrorKind::InvalidInput);
      CHECK(std::string(e.what()).find("evil.deb") != std::string::npos);
      CHECK(std::string(e.what()).find("data.tar") != std::string::npos);
      CHECK(std::string(e.what()).find(c.expect) != std::string::npos);
    }
    CHECK(fs::is_empty(outside));
    CHECK_FALSE(fs::exists(root / "var/lib/dpkg/status"));
  }
}
