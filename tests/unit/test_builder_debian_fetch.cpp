// The parallel downloader against a loopback HTTP server with injected faults: verified
// storing, reuse of stored blobs, digest and size mismatches, retries, Range resume,
// errors that name the URL, and file:// URLs.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "builder/debian/fetch.hpp"
#include "cache/store.hpp"
#include "debian_archive_fixture.hpp"
#include "oci/digest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace strata;
using namespace strata::builder::debian;
using builder::debian::test::ArchiveServer;
using util::ErrorKind;

namespace {

struct Env {
  util::TempDir dir{"strata-fetch-test"};
  std::filesystem::path files = dir.path() / "files";
  cache::Store store{dir.path() / "store", cache::Store::Options{{}, false}};
  std::unique_ptr<ArchiveServer> server;

  Env() {
    std::filesystem::create_directories(files);
    server = std::make_unique<ArchiveServer>(files);
  }
  // Writes a file served at /<name> and returns its item.
  FetchItem add(const std::string& name, const std::string& content) {
    util::write_file_atomic(files / name, content);
    FetchItem item;
    item.url = server->url() + "/" + name;
    item.digest = oci::Digest::of(content);
    item.size = content.size();
    item.name = name;
    return item;
  }
};

FetchOptions quick() {
  FetchOptions o;
  o.backoff_initial = std::chrono::milliseconds(5);
  o.backoff_max = std::chrono::milliseconds(20);
  o.jitter_seed = 42;
  o.connect_timeout = std::chrono::seconds(5);
  return o;
}

std::string pattern(std::size_t size, char seed) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    s[i] = static_cast<char>(seed + static_cast<char>(i % 251));
  }
  return s;
}

util::Error error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const util::Error& e) {
    return e;
  }
  FAIL("no error was thrown");
  return util::Error(ErrorKind::Internal, "unreachable");
}

}  // namespace

TEST_CASE("fetch downloads items in parallel into the store, verified, in input order") {
  Env env;
  std::vector<FetchItem> items;
  for (int i = 0; i < 12; ++i) {
    items.push_back(env.add("f" + std::to_string(i), pattern(10000 + static_cast<std::size_t>(i) * 777, static_cast<char>(i))));
  }
  FetchOptions options = quick();
  options.parallel = 4;
  std::size_t last_completed = 0;
  std::size_t reports = 0;
  options.progress = [&](const FetchProgress& p) {
    CHECK(p.total == items.size());
    CHECK(p.completed >= last_completed);
    last_completed = p.completed;
    ++reports;
  };
  Fetcher fetcher(env.store, options);
  const std::vector<FetchResult> results = fetcher.fetch(items);
  REQUIRE(results.size() == items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    CHECK(results[i].digest == items[i].digest);
    CHECK(results[i].size == *items[i].size);
    CHECK(results[i].downloaded);
    CHECK(results[i].attempts == 1);
    CHECK(env.store.has_blob(items[i].digest));
    CHECK(env.store.read_blob(items[i].digest) == util::read_file(env.files / items[i].name));
  }
  CHECK(last_completed == items.size());
  CHECK(reports >= items.size());
  CHECK(fetcher.stats().downloaded == items.size());
  CHECK(env.server->requests().size() == items.size());
}

TEST_CASE("fetch does not download what the store already holds, nor duplicates twice") {
  Env env;
  const FetchItem a = env.add("a", "alpha content");
  const FetchItem b = env.add("b", "beta content");
  env.store.put_blob("alpha content", "text/plain");
  Fetcher fetcher(env.store, quick());
  const auto results = fetcher.fetch({a, b, b});
  CHECK_FALSE(results[0].downloaded);
  CHECK(results[0].attempts == 0);
  CHECK(results[1].downloaded);
  CHECK_FALSE(results[2].downloaded);
  CHECK(results[2].digest == b.digest);
  CHECK(env.server->count("/a") == 0);
  CHECK(env.server->count("/b") == 1);
  CHECK(fetcher.stats().reused == 1);
}

TEST_CASE("a digest mismatch stores nothing and names URL, expected and actual digest") {
  Env env;
  FetchItem item = env.add("pkg.deb", "the real bytes");
  env.server->tamper("pkg.deb");
  const std::string tampered_digest = [&] {
    std::string s = "the real bytes";
    s[s.size() / 2] = static_cast<char>(s[s.size() / 2] ^ 0x5a);
    return oci::Digest::of(s).str();
  }();
  Fetcher fetcher(env.store, quick());
  const util::Error e = error_of([&] { fetcher.fetch({item}); });
  CHECK(e.kind() == ErrorKind::Corruption);
  const std::string msg = e.what();
  CHECK_THAT(msg, Catch::Contains(item.url));
  CHECK_THAT(msg, Catch::Contains(item.digest.str()));
  CHECK_THAT(msg, Catch::Contains(tampered_digest));
  CHECK(env.store.list_blobs().empty());
  CHECK(env.server->count("pkg.deb") == 1);  // a mismatch is not retried blindly
}

TEST_CASE("a body longer than promised is cut off as corruption") {
  Env env;
  FetchItem item = env.add("big", pattern(50000, 'a'));
  item.size = 1000;
  Fetcher fetcher(env.store, quick());
  const util::Error e = error_of([&] { fetcher.fetch({item}); });
  CHECK(e.kind() == ErrorKind::Corruption);
  CHECK_THAT(std::string(e.what()), Catch::Contains("larger than the 1000 bytes"));
  CHECK(env.store.list_blobs().empty());
}

TEST_CASE("transient 503s are retried with backoff until the download succeeds") {
  Env env;
  const FetchItem item = env.add("flaky", pattern(4000, 'x'));
  env.server->fail_next("flaky", 2, 503);
  Fetcher fetcher(env.store, quick());
  const auto results = fetcher.fetch({item});
  CHECK(results[0].attempts == 3);
  CHECK(env.server->count("flaky") == 3);
  CHECK(env.store.has_blob(item.digest));
  CHECK(fetcher.stats().retries == 2);
}

TEST_CASE("retries are bounded and the failure names the URL and the last error") {
  Env env;
  const FetchItem item = env.add("down", "x");
  env.server->fail_next("down", 10, 502);
  FetchOptions options = quick();
  options.max_attempts = 3;
  Fetcher fetcher(env.store, options);
  const util::Error e = error_of([&] { fetcher.fetch({item}); });
  CHECK(e.kind() == ErrorKind::Timeout);
  CHECK_THAT(std::string(e.what()), Catch::Contains(item.url) && Catch::Contains("HTTP 502") &&
                                        Catch::Contains("3 attempts"));
  CHECK(env.server->count("down") == 3);
}

TEST_CASE("a cut response resumes with a Range request and yields the whole file") {
  Env env;
  const std::string content = pattern(300000, 'r');
  const FetchItem item = env.add("cut.deb", content);
  env.server->cut_next("cut.deb", 1, 100000);
  Fetcher fetcher(env.store, quick());
  const auto results = fetcher.fetch({item});
  CHECK(results[0].attempts == 2);
  const auto log = env.server->requests();
  REQUIRE(log.size() == 2);
  CHECK(log[0].range.empty());
  CHECK_THAT(log[1].range, Catch::StartsWith("bytes=") && Catch::EndsWith("-"));
  CHECK(log[1].range != "bytes=0-");
  CHECK(fetcher.stats().resumed == 1);
  CHECK(env.store.read_blob(item.digest) == content);
}

TEST_CASE("404 is NotFound naming the URL and is not retried; refused connections time out") {
  Env env;
  FetchItem item;
  item.url = env.server->url() + "/missing.deb";
  item.digest = oci::Digest::of("whatever");
  Fetcher fetcher(env.store, quick());
  const util::Error e = error_of([&] { fetcher.fetch({item}); });
  CHECK(e.kind() == ErrorKind::NotFound);
  CHECK_THAT(std::string(e.what()), Catch::Contains(item.url));
  CHECK(env.server->count("missing.deb") == 1);

  // A port where nothing listens: every attempt is refused.
  std::string dead_url;
  {
    ArchiveServer gone(env.files);
    dead_url = gone.url() + "/x";
  }
  item.url = dead_url;
  FetchOptions options = quick();
  options.max_attempts = 2;
  Fetcher second(env.store, options);
  const util::Error refused = error_of([&] { second.fetch({item}); });
  CHECK(refused.kind() == ErrorKind::Timeout);
  CHECK_THAT(std::string(refused.what()), Catch::Contains(dead_url));
}

TEST_CASE("fetch_each reports per item and keeps the good downloads") {
  Env env;
  const FetchItem good = env.add("good", "good bytes");
  FetchItem bad = env.add("bad", "bad bytes");
  bad.digest = oci::Digest::of("something else");
  Fetcher fetcher(env.store, quick());
  const auto results = fetcher.fetch_each({bad, good});
  CHECK(results[0].error);
  CHECK_FALSE(results[1].error);
  CHECK(env.store.has_blob(good.digest));
  CHECK_FALSE(env.store.has_blob(bad.digest));
}

TEST_CASE("get() reads a small file into memory and file:// URLs work") {
  Env env;
  env.add("InRelease", "signed text");
  Fetcher fetcher(env.store, quick());
  CHECK(fetcher.get(env.server->url() + "/InRelease") == "signed text");
  const util::Error too_big =
      error_of([&] { fetcher.get(env.server->url() + "/InRelease", 4); });
  CHECK(too_big.kind() == ErrorKind::InvalidInput);

  const FetchItem item = env.add("local.deb", pattern(5000, 'l'));
  FetchItem local = item;
  local.url = "file://" + (env.files / "local.deb").string();
  const auto results = fetcher.fetch({local});
  CHECK(results[0].downloaded);
  CHECK(env.store.has_blob(item.digest));
  FetchItem missing = local;
  missing.url = "file://" + (env.files / "nope.deb").string();
  missing.digest = oci::Digest::of("nope");
  CHECK(error_of([&] { fetcher.fetch({missing}); }).kind() == ErrorKind::NotFound);
}
