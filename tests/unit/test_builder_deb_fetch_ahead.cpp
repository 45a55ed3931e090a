// Downloading the .debs of later layers in the background (builder/deb_fetch_ahead.hpp):
// await() returns once a layer's packages are in the store, a failed download is left for
// the foreground (nothing thrown, nothing half-stored), unknown layers do not block, and
// destroying the object early neither hangs nor leaves temp files.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "builder/deb_fetch_ahead.hpp"
#include "cache/store.hpp"
#include "oci/digest.hpp"
#include "util/fs.hpp"

using namespace strata;
using builder::DebFetchAhead;
using builder::LockedLayer;
using builder::LockedPackage;
namespace fs = std::filesystem;

namespace {

struct Env {
  util::TempDir dir{"strata-fetch-ahead-test"};
  fs::path mirror = dir.path() / "mirror";
  cache::Store store{dir.path() / "store", cache::Store::Options{{}, false}};

  builder::debian::FetchOptions quick() const {
    builder::debian::FetchOptions o;
    o.max_attempts = 1;
    o.backoff_initial = std::chrono::milliseconds(1);
    return o;
  }
  // A package whose .deb (any bytes will do: the fetcher checks size and sha256) is in the
  // mirror at pool/NAME.deb, unless `publish` is false.
  LockedPackage package(const std::string& name, bool publish = true) {
    const std::string bytes = "not really a deb: " + name + std::string(1000, 'x');
    if (publish) {
      fs::create_directories(mirror / "pool");
      util::write_file_atomic(mirror / "pool" / (name + ".deb"), bytes);
    }
    LockedPackage p;
    p.name = name;
    p.version = "1.0";
    p.architecture = "amd64";
    p.sha256 = oci::Digest::of(bytes);
    p.size = bytes.size();
    p.path = "pool/" + name + ".deb";
    p.archive = "test/main";
    return p;
  }
  std::string url() const { return "file://" + mirror.string(); }
};

std::size_t temp_files(const fs::path& store_root) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(store_root / "tmp")) {
    n += e.is_regular_file() ? 1 : 0;
  }
  return n;
}

}  // namespace

TEST_CASE("fetch ahead: every layer's .debs are in the store once await() returns",
          "[builder][fetch]") {
  Env env;
  LockedLayer one{"r", "one", {}, {env.package("a"), env.package("b")}};
  LockedLayer two{"r", "two", {}, {}};
  for (int i = 0; i < 70; ++i) {  // more than one batch
    two.packages.push_back(env.package("p" + std::to_string(i)));
  }
  LockedLayer other{"r", "other", {}, {env.package("never", false)}};
  {
    DebFetchAhead ahead(env.store, env.url(), env.quick(), {&one, &two});
    ahead.await(other);  // not given: returns at once
    ahead.await(two);
    for (const auto* layer : {&one, &two}) {
      for (const LockedPackage& p : layer->packages) {
        CHECK(env.store.has_blob(p.sha256));
      }
    }
    ahead.await(one);  // already done: returns at once
  }
  CHECK_FALSE(env.store.has_blob(other.packages[0].sha256));
}

TEST_CASE("fetch ahead: a failed download is left to the foreground, the rest still arrives",
          "[builder][fetch]") {
  Env env;
  const LockedPackage missing = env.package("missing", false);
  LockedPackage wrong = env.package("wrong");
  wrong.sha256 = oci::Digest::of(std::string("other bytes"));  // the mirror's file differs
  LockedLayer one{"r", "one", {}, {env.package("a"), missing, wrong, env.package("z")}};
  LockedLayer two{"r", "two", {}, {env.package("c")}};
  DebFetchAhead ahead(env.store, env.url(), env.quick(), {&one, &two});
  ahead.await(one);  // nothing thrown
  CHECK(env.store.has_blob(one.packages[0].sha256));
  CHECK(env.store.has_blob(one.packages[3].sha256));
  CHECK_FALSE(env.store.has_blob(missing.sha256));
  CHECK_FALSE(env.store.has_blob(wrong.sha256));
  ahead.await(two);
  CHECK(env.store.has_blob(two.packages[0].sha256));
  CHECK(temp_files(env.dir.path() / "store") == 0);
}

TEST_CASE("fetch ahead: destroyed before its layers are done, it stops and cleans up",
          "[builder][fetch]") {
  Env env;
  std::vector<LockedLayer> layers;
  for (int l = 0; l < 20; ++l) {
    LockedLayer layer{"r", "l" + std::to_string(l), {}, {}};
    for (int i = 0; i < 2 * static_cast<int>(DebFetchAhead::k_batch); ++i) {
      layer.packages.push_back(env.package("l" + std::to_string(l) + "-p" + std::to_string(i)));
    }
    layers.push_back(layer);
  }
  std::vector<const LockedLayer*> refs;
  for (const auto& l : layers) {
    refs.push_back(&l);
  }
  { DebFetchAhead ahead(env.store, env.url(), env.quick(), refs); }
  // What did arrive is whole; nothing is left in the store's tmp.
  CHECK(temp_files(env.dir.path() / "store") == 0);
  std::size_t present = 0;
  for (const auto& l : layers) {
    for (const LockedPackage& p : l.packages) {
      if (env.store.has_blob(p.sha256)) {
        ++present;
        CHECK(util::read_file(env.store.blob_path(p.sha256)).size() == p.size);
      }
    }
  }
  CHECK(present < 20 * 2 * DebFetchAhead::k_batch);
}
