// Release/InRelease: parsing, dates, Valid-Until, index verification, and signature checks
// against throwaway GnuPG keys made here (ed25519, no passphrase) and the real gpgv.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <string>

#include "builder/debian/release.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

using namespace strata::builder::debian;
using strata::util::Error;
using strata::util::ErrorKind;
namespace fs = std::filesystem;

namespace {

void run(const std::string& command) {
  INFO(command);
  REQUIRE(std::system((command + " >/dev/null 2>&1").c_str()) == 0);
}

std::string release_text(const std::string& packages, const std::string& extra = "") {
  const std::string sha = strata::util::hash_hex(packages);
  return "Origin: Debian\n"
         "Label: Debian\n"
         "Suite: stable\n"
         "Version: 12.5\n"
         "Codename: bookworm\n"
         "Date: Sat, 10 Feb 2024 10:06:04 UTC\n" +
         extra +
         "Acquire-By-Hash: yes\n"
         "Architectures: all amd64 arm64\n"
         "Components: main contrib non-free-firmware\n"
         "Description: Debian 12.5 Released 10 February 2024\n"
         "MD5Sum:\n"
         " 0123456789abcdef0123456789abcdef 12 main/binary-amd64/Packages\n"
         "SHA256:\n"
         " " + sha + " " + std::to_string(packages.size()) + " main/binary-amd64/Packages\n"
         " " + std::string(64, 'e') + " 0 contrib/binary-amd64/Packages\n";
}

// A GnuPG home with three keys: "good" (exported to keyring.gpg), "other" (not exported),
// and "old", created in 2020 with a one-day lifetime and therefore expired.
class Keys {
 public:
  explicit Keys(const fs::path& dir) : m_home(dir / "gnupg") {
    fs::create_directory(m_home);
    fs::permissions(m_home, fs::perms::owner_all);
    gen("Archive Good <good@example.invalid>", "never", "");
    gen("Someone Else <other@example.invalid>", "never", "");
    gen("Old Archive <old@example.invalid>", "1d", "--faked-system-time 20200101T000000");
    m_keyring = dir / "keyring.gpg";
    gpg("--output '" + m_keyring.string() + "' --export good@example.invalid old@example.invalid");
  }
  Keys(const Keys&) = delete;
  Keys& operator=(const Keys&) = delete;
  ~Keys() {
    (void)std::system(("gpgconf --homedir '" + m_home.string() +
                       "' --kill gpg-agent >/dev/null 2>&1").c_str());
  }

  void gpg(const std::string& args) const {
    run("gpg --batch --no-tty --homedir '" + m_home.string() + "' " + args);
  }
  // Clearsigns `in` into `out` with the given signers (e-mail addresses).
  void clearsign(const fs::path& in, const fs::path& out, const std::vector<std::string>& users,
                 const std::string& extra = "") const {
    std::string args = "--yes --clearsign " + extra;
    for (const std::string& u : users) {
      args += " --local-user " + u;
    }
    gpg(args + " --output '" + out.string() + "' '" + in.string() + "'");
  }
  [[nodiscard]] const fs::path& keyring() const { return m_keyring; }

 private:
  void gen(const std::string& uid, const std::string& expire, const std::string& extra) const {
    gpg("--passphrase '' --pinentry-mode loopback " + extra + " --quick-generate-key '" + uid +
        "' ed25519 sign " + expire);
  }
  fs::path m_home;
  fs::path m_keyring;
};

template <typename F>
std::string expect_error(F&& f, ErrorKind kind, std::initializer_list<std::string> fragments) {
  try {
    f();
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == kind);
    for (const std::string& s : fragments) {
      CHECK(std::string(e.what()).find(s) != std::string::npos);
    }
    return e.what();
  }
  FAIL("no error");
  return {};
}

const char* const k_url = "http://127.0.0.1:8080/debian/dists/bookworm/InRelease";

}  // namespace

TEST_CASE("RFC 2822 dates", "[debian][release]") {
  CHECK(parse_rfc2822_date("Thu, 01 Jan 1970 00:00:00 UTC") == 0);
  CHECK(parse_rfc2822_date("Sat, 10 Jun 2023 08:55:30 UTC") == 1686387330);
  CHECK(parse_rfc2822_date("10 Jun 2023 08:55:30 GMT") == 1686387330);
  CHECK(parse_rfc2822_date("Sat, 10 Jun 2023 10:55:30 +0200") == 1686387330);
  CHECK(parse_rfc2822_date("sat, 10 jun 2023 03:55:30 -0500") == 1686387330);
  CHECK(parse_rfc2822_date("Sat, 10 Jun 2023 08:55 Z") == 1686387300);
  CHECK(parse_rfc2822_date("Thu, 29 Feb 2024 23:59:59 UTC") == 1709251199);
  CHECK(parse_rfc2822_date("Sun, 1 Jan 2040 00:00:00 UTC") == 2208988800);
  CHECK(format_utc(1686387330) == "2023-06-10 08:55:30 UTC");
  for (const char* bad : {"", "yesterday", "Sat, 10 Jun 2023 08:55:30", "Sat, 10 Foo 2023 08:55:30 UTC",
                          "Sat, 31 Jun 2023 08:55:30 UTC", "Fri, 29 Feb 2023 00:00:00 UTC",
                          "Sat, 10 Jun 2023 24:00:00 UTC", "Sat, 10 Jun 23 08:55:30 UTC",
                          "Sat, 10 Jun 2023 08:55:30 CEST", "Xyz, 10 Jun 2023 08:55:30 UTC",
                          "2023-06-10T08:55:30Z"}) {
    INFO(bad);
    expect_error([&] { parse_rfc2822_date(bad); }, ErrorKind::InvalidInput, {bad});
  }
}

TEST_CASE("Release fields and the SHA256 list", "[debian][release]") {
  const Release r = parse_release(
      release_text("x", "Valid-Until: Sat, 17 Feb 2024 10:06:04 UTC\n"), "Release");
  CHECK(r.origin == "Debian");
  CHECK(r.label == "Debian");
  CHECK(r.suite == "stable");
  CHECK(r.codename == "bookworm");
  CHECK(r.version == "12.5");
  CHECK(r.date == parse_rfc2822_date("Sat, 10 Feb 2024 10:06:04 UTC"));
  REQUIRE(r.valid_until.has_value());
  CHECK(*r.valid_until == r.date + 7 * 86400);
  CHECK(r.architectures == std::vector<std::string>{"all", "amd64", "arm64"});
  CHECK(r.components == std::vector<std::string>{"main", "contrib", "non-free-firmware"});
  CHECK(r.acquire_by_hash);
  REQUIRE(r.sha256.size() == 2);
  const ReleaseFile* f = r.find("main/binary-amd64/Packages");
  REQUIRE(f != nullptr);
  CHECK(f->size == 1);
  CHECK(f->sha256 == strata::util::hash_hex("x"));
  CHECK(r.fetch_path(*f) == "main/binary-amd64/by-hash/SHA256/" + f->sha256);
  CHECK(r.find("main/binary-i386/Packages") == nullptr);

  const Release plain = parse_release(release_text("x"), "Release");
  CHECK_FALSE(plain.valid_until.has_value());

  expect_error([] { parse_release("Origin: x\nSuite: s\nSHA256:\n abc 1 p\n", "R"); },
               ErrorKind::InvalidInput, {"R:", "Date"});
  expect_error(
      [] { parse_release("Suite: s\nDate: Sat, 10 Jun 2023 08:55:30 UTC\nSHA256:\n zz 1 p\n", "R"); },
      ErrorKind::InvalidInput, {"R:4", "zz 1 p"});
  expect_error([] { parse_release("Suite: s\nDate: Sat, 10 Jun 2023 08:55:30 UTC\n", "R"); },
               ErrorKind::InvalidInput, {"no SHA256"});
  expect_error([] { parse_release("Suite: s\nDate: 2023-06-10\nSHA256:\n", "R"); },
               ErrorKind::InvalidInput, {"R:2", "Date"});
}

TEST_CASE("Valid-Until is honoured unless overridden", "[debian][release]") {
  const Release r = parse_release(
      release_text("x", "Valid-Until: Sat, 17 Feb 2024 10:06:04 UTC\n"), "Release");
  check_valid_until(r, *r.valid_until, false, k_url);  // still valid at the last second
  expect_error([&] { check_valid_until(r, *r.valid_until + 1, false, k_url); },
               ErrorKind::InvalidInput, {k_url, "expired", "2024-02-17 10:06:04 UTC"});
  check_valid_until(r, *r.valid_until + 86400 * 365, true, k_url);  // snapshot override
  const Release no_limit = parse_release(release_text("x"), "Release");
  check_valid_until(no_limit, 4'000'000'000, false, k_url);
}

TEST_CASE("indexes are checked against the SHA256 list", "[debian][release]") {
  strata::util::TempDir tmp("release");
  const std::string packages = "Package: a\nVersion: 1\n";
  const Release r = parse_release(release_text(packages), "Release");
  const fs::path good = tmp.path() / "Packages";
  strata::util::write_file_atomic(good, packages);
  verify_index_file(r, "main/binary-amd64/Packages", good, "http://mirror.invalid/debian");

  const fs::path changed = tmp.path() / "changed";
  strata::util::write_file_atomic(changed, "Package: b\nVersion: 1\n");  // same size
  expect_error(
      [&] { verify_index_file(r, "main/binary-amd64/Packages", changed, "http://mirror.invalid/debian"); },
      ErrorKind::Corruption, {"main/binary-amd64/Packages", "sha256", "http://mirror.invalid/debian"});
  const fs::path longer = tmp.path() / "longer";
  strata::util::write_file_atomic(longer, packages + "\n");
  expect_error([&] { verify_index_file(r, "main/binary-amd64/Packages", longer, "u"); },
               ErrorKind::Corruption, {"main/binary-amd64/Packages", "bytes"});
  expect_error([&] { verify_index_file(r, "main/binary-riscv64/Packages", good, "u"); },
               ErrorKind::NotFound, {"main/binary-riscv64/Packages", "not listed"});
}

TEST_CASE("InRelease verification with gpgv", "[debian][release][gpg]") {
  strata::util::TempDir tmp("release");
  const Keys keys(tmp.path());
  const std::string content = release_text("Package: a\n");
  const fs::path release = tmp.path() / "Release";
  strata::util::write_file_atomic(release, content);
  GpgvOptions opts;
  opts.keyrings = {keys.keyring()};

  SECTION("a good signature yields exactly the signed content") {
    const fs::path in = tmp.path() / "InRelease";
    keys.clearsign(release, in, {"good@example.invalid"});
    const std::string verified = verify_inrelease(in, opts, k_url);
    CHECK(verified == content);
    CHECK(parse_release(verified, k_url).codename == "bookworm");
  }
  SECTION("a second signature by a key we do not hold does not hurt") {
    const fs::path in = tmp.path() / "InRelease";
    keys.clearsign(release, in, {"good@example.invalid", "other@example.invalid"});
    CHECK(verify_inrelease(in, opts, k_url) == content);
  }
  SECTION("text outside the signed block never reaches the caller") {
    const fs::path in = tmp.path() / "InRelease";
    keys.clearsign(release, in, {"good@example.invalid"});
    const std::string signed_text = strata::util::read_file(in);
    strata::util::write_file_atomic(in, "Origin: Evil\nSuite: evil\n\n" + signed_text +
                                            "\nCodename: evil\n");
    const std::string verified = verify_inrelease(in, opts, k_url);
    CHECK(verified == content);
    CHECK(verified.find("vil") == std::string::npos);
  }
  SECTION("a second signed message appended to a good one is refused") {
    const fs::path in = tmp.path() / "InRelease";
    const fs::path evil = tmp.path() / "evil";
    const fs::path evil_in = tmp.path() / "evil.asc";
    keys.clearsign(release, in, {"good@example.invalid"});
    strata::util::write_file_atomic(evil, "Codename: evil\n");
    keys.clearsign(evil, evil_in, {"other@example.invalid"});
    strata::util::write_file_atomic(
        in, strata::util::read_file(in) + strata::util::read_file(evil_in));
    expect_error([&] { verify_inrelease(in, opts, k_url); }, ErrorKind::Unauthorized,
                 {k_url, "exactly one"});
  }
  SECTION("a key outside the keyring is an unknown key") {
    const fs::path in = tmp.path() / "InRelease";
    keys.clearsign(release, in, {"other@example.invalid"});
    expect_error([&] { verify_inrelease(in, opts, k_url); }, ErrorKind::Unauthorized,
                 {k_url, "unknown key", keys.keyring().string()});
  }
  SECTION("tampered content is a bad signature") {
    const fs::path in = tmp.path() / "InRelease";
    keys.clearsign(release, in, {"good@example.invalid"});
    std::string text = strata::util::read_file(in);
    const auto at = text.find("Codename: bookworm");
    REQUIRE(at != std::string::npos);
    text.replace(at, 18, "Codename: bookwarm");
    strata::util::write_file_atomic(in, text);
    expect_error([&] { verify_inrelease(in, opts, k_url); }, ErrorKind::Unauthorized,
                 {k_url, "bad signature"});
  }
  SECTION("a signature by an expired key is refused") {
    const fs::path in = tmp.path() / "InRelease";
    keys.clearsign(release, in, {"old@example.invalid"}, "--faked-system-time 20200101T010000");
    expect_error([&] { verify_inrelease(in, opts, k_url); }, ErrorKind::Unauthorized,
                 {k_url, "expired"});
  }
  SECTION("an unsigned file is refused; reading it needs the explicit unverified call") {
    expect_error([&] { verify_inrelease(release, opts, k_url); }, ErrorKind::Unauthorized,
                 {k_url, "not signed"});
    const fs::path in = tmp.path() / "InRelease";
    keys.clearsign(release, in, {"good@example.invalid"});
    CHECK(clearsigned_content_unverified(strata::util::read_file(in), k_url) == content);
    expect_error([&] { clearsigned_content_unverified(content, k_url); },
                 ErrorKind::InvalidInput, {k_url});
  }
  SECTION("missing keyring or gpgv are NotFound") {
    const fs::path in = tmp.path() / "InRelease";
    keys.clearsign(release, in, {"good@example.invalid"});
    GpgvOptions missing;
    missing.keyrings = {tmp.path() / "nope.gpg"};
    expect_error([&] { verify_inrelease(in, missing, k_url); }, ErrorKind::NotFound,
                 {"nope.gpg"});
    GpgvOptions no_gpgv = opts;
    no_gpgv.program = "strata-no-such-gpgv";
    expect_error([&] { verify_inrelease(in, no_gpgv, k_url); }, ErrorKind::NotFound,
                 {"strata-no-such-gpgv", "gpgv"});
  }
}
