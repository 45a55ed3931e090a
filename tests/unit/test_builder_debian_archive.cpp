// Opening the hermetic signed test archive (tests/fixtures/debian/make_archive.sh) over a
// loopback HTTP server: the trust chain (signature, Valid-Until, Release hashes, .deb
// hashes), reuse of stored indexes and .debs, resolution, and recovery from faults.
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include "builder/debian/archive.hpp"
#include "builder/debian/resolver.hpp"
#include "cache/store.hpp"
#include "debian_archive_fixture.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

using namespace strata;
using namespace strata::builder::debian;
using builder::debian::test::ArchiveServer;
using builder::debian::test::generated_archive;
using util::ErrorKind;

namespace {

constexpr std::int64_t k_fixture_date = 1717200000;  // Sat, 01 Jun 2024 00:00:00 UTC

struct Env {
  util::TempDir dir{"strata-archive-test"};
  cache::Store store{dir.path() / "store", cache::Store::Options{{}, false}};
  ArchiveServer server{generated_archive().root};

  [[nodiscard]] ArchiveOptions options(const std::string& suite = "trixie") const {
    ArchiveOptions o;
    o.mirror = server.url() + "/";
    o.suite = suite;
    o.components = {"main", "contrib"};
    o.architectures = {"amd64"};
    o.keyrings = {generated_archive().keyring};
    o.fetch.backoff_initial = std::chrono::milliseconds(5);
    o.fetch.backoff_max = std::chrono::milliseconds(20);
    o.fetch.jitter_seed = 7;
    return o;
  }
};

util::Error error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const util::Error& e) {
    return e;
  }
  FAIL("no error was thrown");
  return util::Error(ErrorKind::Internal, "unreachable");
}

std::vector<Package> resolve_packages(const Archive& archive, std::vector<std::string> names) {
  Request request;
  request.architecture = "amd64";
  request.packages = std::move(names);
  request.priorities = PrioritySet::Minbase;
  const Resolution resolution = resolve(archive.universe(), request);
  std::vector<Package> out;
  for (const ChosenPackage& c : resolution.packages) {
    out.push_back(c.package);
  }
  return out;
}

}  // namespace

TEST_CASE("open verifies InRelease, reads indexes by hash, resolves and fetches .debs") {
  Env env;
  const Archive archive = Archive::open(env.store, env.options());
  CHECK(archive.signed_by_trusted_key());
  CHECK_FALSE(archive.inrelease_from_store());
  CHECK(archive.date() == k_fixture_date);
  CHECK(archive.release().codename == "trixie");
  const std::string inrelease =
      util::read_file(generated_archive().root / "dists/trixie/InRelease");
  CHECK(archive.inrelease_digest() == oci::Digest::of(inrelease));
  CHECK(env.store.read_blob(archive.inrelease_digest()) == inrelease);

  REQUIRE(archive.indexes().size() == 2);
  for (const ArchiveIndex& index : archive.indexes()) {
    CHECK(index.path == index.component + "/binary-amd64/Packages.xz");
    CHECK_THAT(index.url, Catch::Contains("/by-hash/SHA256/" + index.digest.hex()));
    CHECK(index.downloaded);
    CHECK(env.store.has_blob(index.digest));
  }
  CHECK(archive.indexes()[0].packages == 17);
  CHECK(archive.indexes()[1].packages == 1);
  REQUIRE(archive.packages().size() == 18);
  std::set<std::string> archives;
  for (const Package& p : archive.packages()) {
    archives.insert(p.archive);
  }
  CHECK(archives == std::set<std::string>{"trixie/contrib", "trixie/main"});

  // Minbase + a request: Essential/required packages, alternatives, versioned Provides.
  const std::vector<Package> chosen = resolve_packages(archive, {"hello", "cuda-lite", "python3-six"});
  std::set<std::string> names;
  for (const Package& p : chosen) {
    names.insert(p.name);
  }
  CHECK(names == std::set<std::string>{"base-files", "cuda-lite", "dash", "hello", "libc6",
                                       "libgcc-s1", "mawk", "python3", "python3-six"});

  env.server.clear_log();
  FetchStats stats;
  const std::vector<FetchResult> debs = fetch_debs(env.store, archive.mirror(), chosen,
                                                   env.options().fetch, &stats);
  REQUIRE(debs.size() == chosen.size());
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    const std::filesystem::path file = generated_archive().root / chosen[i].filename;
    CHECK(debs[i].digest.hex() == util::hash_file_hex(file.string()));
    CHECK(debs[i].downloaded);
    CHECK(env.store.has_blob(debs[i].digest));
    CHECK(env.store.blob_info(debs[i].digest)->media_type == k_media_type_deb);
  }
  CHECK(env.server.count(".deb") == chosen.size());
  CHECK(stats.downloaded == chosen.size());
}

TEST_CASE("a second open and fetch download nothing but InRelease; a pinned one nothing") {
  Env env;
  const Archive first = Archive::open(env.store, env.options());
  const std::vector<Package> chosen = resolve_packages(first, {"mailer"});
  fetch_debs(env.store, first.mirror(), chosen, env.options().fetch);

  env.server.clear_log();
  const Archive second = Archive::open(env.store, env.options());
  const auto log = env.server.requests();
  REQUIRE(log.size() == 1);
  CHECK(log[0].path == "/dists/trixie/InRelease");
  for (const ArchiveIndex& index : second.indexes()) {
    CHECK_FALSE(index.downloaded);
  }
  CHECK(second.packages().size() == first.packages().size());
  FetchStats stats;
  const auto debs = fetch_debs(env.store, second.mirror(), chosen, env.options().fetch, &stats);
  CHECK(env.server.requests().size() == 1);
  CHECK(stats.reused == chosen.size());
  for (const FetchResult& r : debs) {
    CHECK_FALSE(r.downloaded);
  }

  ArchiveOptions pinned = env.options();
  pinned.pinned_inrelease = first.inrelease_digest();
  env.server.clear_log();
  const Archive third = Archive::open(env.store, pinned);
  CHECK(third.inrelease_from_store());
  CHECK(third.signed_by_trusted_key());
  CHECK(env.server.requests().empty());
}

TEST_CASE("a pinned InRelease that the mirror no longer serves is a conflict") {
  Env env;
  ArchiveOptions options = env.options();
  options.pinned_inrelease = oci::Digest::of("an older InRelease");
  const util::Error e = error_of([&] { Archive::open(env.store, options); });
  CHECK(e.kind() == ErrorKind::Conflict);
  CHECK_THAT(std::string(e.what()), Catch::Contains("/dists/trixie/InRelease"));
}

TEST_CASE("an InRelease signed by an unknown key is refused, naming the URL") {
  Env env;
  const util::Error e = error_of([&] { Archive::open(env.store, env.options("evil")); });
  CHECK(e.kind() == ErrorKind::Unauthorized);
  CHECK_THAT(std::string(e.what()), Catch::Contains(env.server.url() + "/dists/evil/InRelease"));
  CHECK(env.store.list_blobs().empty());
  CHECK(env.server.count("Packages") == 0);
}

TEST_CASE("a tampered Packages index is Corruption naming the index; nothing is stored") {
  Env env;
  env.server.tamper("/dists/trixie/main/binary-amd64/");
  const util::Error e = error_of([&] { Archive::open(env.store, env.options()); });
  CHECK(e.kind() == ErrorKind::Corruption);
  CHECK_THAT(std::string(e.what()), Catch::Contains("main/binary-amd64/Packages.xz") &&
                                        Catch::Contains(env.server.url()));
  const std::string good_hex = util::hash_file_hex(
      (generated_archive().root / "dists/trixie/main/binary-amd64/Packages.xz").string());
  CHECK_FALSE(env.store.has_blob(oci::Digest::from_hex(util::HashAlgorithm::Sha256, good_hex)));
  std::size_t indexes = 0;
  for (const cache::BlobInfo& blob : env.store.list_blobs()) {
    indexes += blob.media_type == k_media_type_packages ? 1 : 0;
  }
  CHECK(indexes == 1);  // contrib's intact index only
}

TEST_CASE("a .deb that does not match its index hash is refused and not stored") {
  Env env;
  const Archive archive = Archive::open(env.store, env.options());
  const std::vector<Package> chosen = resolve_packages(archive, {"hello"});
  const auto before = env.store.list_blobs().size();
  env.server.tamper("/hello_");
  const util::Error e = error_of(
      [&] { fetch_debs(env.store, archive.mirror(), chosen, env.options().fetch); });
  CHECK(e.kind() == ErrorKind::Corruption);
  CHECK_THAT(std::string(e.what()), Catch::Contains("hello_2.10-3_amd64.deb") &&
                                        Catch::Contains("hello 2.10-3 (amd64)"));
  const Package* hello = nullptr;
  for (const Package& p : chosen) {
    hello = p.name == "hello" ? &p : hello;
  }
  REQUIRE(hello != nullptr);
  CHECK_FALSE(env.store.has_blob(oci::Digest::from_hex(util::HashAlgorithm::Sha256, hello->sha256)));
  // The other packages of the batch were fetched; nothing else entered the store.
  CHECK(env.store.list_blobs().size() == before + chosen.size() - 1);
}

TEST_CASE("an expired Valid-Until is refused unless explicitly ignored") {
  Env env;
  const util::Error e = error_of([&] { Archive::open(env.store, env.options("stale")); });
  CHECK(e.kind() == ErrorKind::InvalidInput);
  CHECK_THAT(std::string(e.what()), Catch::Contains("expired") && Catch::Contains("/dists/stale/"));

  ArchiveOptions options = env.options("stale");
  options.ignore_valid_until = true;
  CHECK(Archive::open(env.store, options).packages().size() == 18);
  // Before the expiry date it is simply valid.
  options.ignore_valid_until = false;
  options.now = k_fixture_date + 3600;
  CHECK(Archive::open(env.store, options).signed_by_trusted_key());
}

TEST_CASE("an unsigned archive is refused unless allow_unsigned is set") {
  Env env;
  const util::Error e = error_of([&] { Archive::open(env.store, env.options("unsigned")); });
  CHECK(e.kind() == ErrorKind::Unauthorized);
  CHECK_THAT(std::string(e.what()), Catch::Contains("/dists/unsigned/InRelease"));

  ArchiveOptions options = env.options("unsigned");
  options.allow_unsigned = true;
  const Archive archive = Archive::open(env.store, options);
  CHECK_FALSE(archive.signed_by_trusted_key());
  CHECK(archive.packages().size() == 18);
}

TEST_CASE("open survives 503s, a cut .deb resumes with Range, by-hash 404 falls back") {
  Env env;
  env.server.fail_next("/dists/trixie/InRelease", 2, 503);
  env.server.fail_next("/by-hash/", 2, 404);
  const Archive archive = Archive::open(env.store, env.options());
  CHECK(env.server.count("/dists/trixie/InRelease") == 3);
  for (const ArchiveIndex& index : archive.indexes()) {
    CHECK_THAT(index.url, !Catch::Contains("by-hash") && Catch::EndsWith(index.path));
  }

  const std::vector<Package> chosen = resolve_packages(archive, {"hello"});
  env.server.cut_next("/hello_", 1, 300);
  const auto debs = fetch_debs(env.store, archive.mirror(), chosen, env.options().fetch);
  std::vector<std::string> ranges;
  for (const auto& r : env.server.requests()) {
    if (r.path.find("/hello_") != std::string::npos) {
      ranges.push_back(r.range);
    }
  }
  REQUIRE(ranges.size() == 2);
  CHECK(ranges[0].empty());
  CHECK(ranges[1] == "bytes=300-");
  for (const FetchResult& r : debs) {
    CHECK(env.store.has_blob(r.digest));
  }
}

TEST_CASE("a component or architecture the suite lacks is NotFound naming what exists") {
  Env env;
  ArchiveOptions options = env.options();
  options.components = {"non-free"};
  const util::Error e = error_of([&] { Archive::open(env.store, options); });
  CHECK(e.kind() == ErrorKind::NotFound);
  CHECK_THAT(std::string(e.what()), Catch::Contains("non-free") && Catch::Contains("main, contrib"));
  options = env.options();
  options.suite = "sid";
  const util::Error missing = error_of([&] { Archive::open(env.store, options); });
  CHECK(missing.kind() == ErrorKind::NotFound);
  CHECK_THAT(std::string(missing.what()), Catch::Contains("/dists/sid/"));
}
