// Garbage collection (roots, age, size, grace, dry run) and verification of the store.
#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <set>

#include "cache/store.hpp"
#include "oci/image.hpp"
#include "oci/media_types.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace strata;
using cache::Store;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t k_day = 86400;
constexpr std::int64_t k_t0 = 1'700'000'000;

// A store whose clock the test moves.
struct Fixture {
  util::TempDir dir{"gc"};
  std::shared_ptr<std::atomic<std::int64_t>> time =
      std::make_shared<std::atomic<std::int64_t>>(k_t0);
  Store store{dir.path() / "s", Store::Options{[t = time] { return t->load(); }}};

  void at(std::int64_t when) { time->store(when); }

  oci::Descriptor put(const std::string& content, std::string_view media_type) {
    oci::Descriptor d;
    d.media_type = std::string(media_type);
    d.digest = store.put_blob(content, d.media_type);
    d.size = static_cast<std::int64_t>(content.size());
    return d;
  }

  // An image: config + layers + manifest; returns the manifest descriptor.
  oci::Descriptor image(const std::string& name, const std::vector<oci::Descriptor>& layers) {
    oci::Manifest m;
    m.media_type = std::string(oci::media::k_oci_manifest);
    m.config = put(R"({"architecture":"amd64","os":"linux","name":")" + name + "\"}",
                   oci::media::k_oci_config);
    m.layers = layers;
    return put(oci::to_json(m), oci::media::k_oci_manifest);
  }

  oci::Descriptor layer(const std::string& content) {
    return put(content, oci::media::k_oci_layer_zstd);
  }

  std::set<oci::Digest> present() const {
    std::set<oci::Digest> out;
    for (const auto& b : store.list_blobs()) {
      if (store.has_blob(b.digest)) {
        out.insert(b.digest);
      }
    }
    return out;
  }
};

std::size_t count_files(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    n += entry.is_regular_file() ? 1 : 0;
  }
  return n;
}

}  // namespace

TEST_CASE("referenced_blobs follows indexes and manifests", "[cache][gc]") {
  Fixture f;
  const auto l1 = f.layer("layer 1");
  const auto l2 = f.layer("layer 2");
  const auto amd64 = f.image("amd64", {l1, l2});
  oci::Descriptor absent;
  absent.media_type = std::string(oci::media::k_oci_manifest);
  absent.digest = oci::Digest::of("arm64 manifest that was never pulled");
  absent.size = 10;
  oci::Index index;
  index.media_type = std::string(oci::media::k_oci_index);
  index.manifests = {amd64, absent};
  const auto idx = f.put(oci::to_json(index), oci::media::k_oci_index);

  const auto refs = f.store.referenced_blobs(idx.digest);
  const std::set<oci::Digest> got(refs.begin(), refs.end());
  CHECK(got.size() == refs.size());  // no duplicates
  CHECK(got.contains(amd64.digest));
  CHECK(got.contains(l1.digest));
  CHECK(got.contains(l2.digest));
  CHECK(got.contains(absent.digest));  // listed, not descended into
  CHECK_FALSE(got.contains(idx.digest));
  CHECK(got.size() == 5);  // + the config
  CHECK_THROWS_AS(f.store.referenced_blobs(oci::Digest::of("missing root")), util::Error);
}

TEST_CASE("gc by age keeps tagged images and removes the rest", "[cache][gc]") {
  Fixture f;
  const auto shared = f.layer("shared base layer");
  const auto only_old = f.layer("layer of an untagged build");
  const auto tagged = f.image("tagged", {shared});
  const auto untagged = f.image("untagged", {shared, only_old});
  f.store.set_tag({"proj/env:latest", tagged.digest, "", 0});
  f.store.put_layer({std::string(64, '1'), oci::Digest::of("d1"), only_old.digest, 1,
                     only_old.media_type, "step 1"});
  f.store.put_layer(
      {std::string(64, '2'), oci::Digest::of("d2"), shared.digest, 1, shared.media_type, "step 2"});
  const auto before = f.present();

  f.at(k_t0 + 29 * k_day);  // younger than the age limit: nothing goes
  Store::GcOptions options;
  options.max_age = 30 * k_day;
  auto r = f.store.gc(options);
  CHECK(r.removed_blobs == 0);
  CHECK(f.present() == before);

  f.at(k_t0 + 31 * k_day);
  r = f.store.gc(options);
  CHECK(r.removed_blobs == 3);  // untagged manifest, its config, its own layer
  const auto after = f.present();
  CHECK_FALSE(after.contains(untagged.digest));
  CHECK_FALSE(after.contains(only_old.digest));
  CHECK(after.contains(tagged.digest));
  CHECK(after.contains(shared.digest));
  CHECK(after.size() == 3);
  CHECK(r.kept_blobs == 3);
  CHECK_FALSE(fs::exists(f.store.blob_path(only_old.digest)));
  // Cache entries die with their blob; the others survive.
  CHECK_FALSE(f.store.find_layer(std::string(64, '1')));
  CHECK(f.store.find_layer(std::string(64, '2')));
  CHECK(count_files(f.dir.path() / "s" / "tmp") == 0);

  // Untagging makes the image collectable.
  f.store.remove_tag("proj/env:latest");
  f.at(k_t0 + 62 * k_day);
  r = f.store.gc(options);
  CHECK(f.present().empty());
  CHECK(count_files(f.dir.path() / "s" / "blobs" / "sha256") == 0);
}

TEST_CASE("gc by size removes the least recently used first", "[cache][gc]") {
  Fixture f;
  const std::string kb(1000, 'x');
  const auto root_image = f.image("root", {f.layer("a" + kb)});  // oldest, but tagged
  f.store.set_tag({"keep", root_image.digest, "", 0});
  f.at(k_t0 + 10 * k_day);
  const auto l1 = f.layer("1" + kb);
  f.at(k_t0 + 11 * k_day);
  const auto l2 = f.layer("2" + kb);
  f.at(k_t0 + 12 * k_day);
  const auto l3 = f.layer("3" + kb);
  f.at(k_t0 + 13 * k_day);
  f.store.touch_blob(l1.digest);  // used again: now the newest

  std::uint64_t total = 0;
  for (const auto& b : f.store.list_blobs()) {
    total += b.size;
  }
  Store::GcOptions options;
  options.max_bytes = total - 1500;  // two layers must go
  f.at(k_t0 + 20 * k_day);
  const auto r = f.store.gc(options);
  REQUIRE(r.removed.size() == 2);
  CHECK(r.removed[0].digest == l2.digest);
  CHECK(r.removed[1].digest == l3.digest);
  CHECK(r.removed_bytes == static_cast<std::uint64_t>(l2.size + l3.size));
  CHECK(r.kept_bytes == total - r.removed_bytes);
  CHECK(r.kept_bytes <= *options.max_bytes);
  CHECK(f.store.has_blob(l1.digest));
  CHECK(f.store.has_blob(root_image.digest));

  // A budget below what the tags need removes everything else but never a root.
  options.max_bytes = 1;
  f.store.gc(options);
  CHECK_FALSE(f.store.has_blob(l1.digest));
  CHECK(f.store.has_blob(root_image.digest));
  CHECK(f.present().size() == 3);
}

TEST_CASE("gc never removes what was used within the grace period", "[cache][gc]") {
  Fixture f;
  const auto old_layer = f.layer("old");
  f.at(k_t0 + 100 * k_day);
  const auto fresh = f.layer("written by a build that has not tagged yet");
  f.at(k_t0 + 100 * k_day + 300);  // five minutes later
  Store::GcOptions options;
  options.max_age = 0;
  options.max_bytes = 0;
  auto r = f.store.gc(options);
  CHECK(r.removed_blobs == 1);
  CHECK_FALSE(f.store.has_blob(old_layer.digest));
  CHECK(f.store.has_blob(fresh.digest));

  // A cache hit refreshes the grace period.
  f.store.put_layer({std::string(64, 'f'), oci::Digest::of("d"), fresh.digest, 1, "", ""});
  f.at(k_t0 + 100 * k_day + 3000);
  REQUIRE(f.store.find_layer(std::string(64, 'f')));
  f.at(k_t0 + 100 * k_day + 3300);
  CHECK(f.store.gc(options).removed_blobs == 0);
  options.grace = 60;
  CHECK(f.store.gc(options).removed_blobs == 1);
  CHECK_FALSE(f.store.find_layer(std::string(64, 'f')));
}

TEST_CASE("gc dry run reports without removing", "[cache][gc]") {
  Fixture f;
  const auto a = f.layer("a");
  const auto b = f.layer("bb");
  f.at(k_t0 + k_day);
  Store::GcOptions options;
  options.dry_run = true;
  const auto r = f.store.gc(options);
  CHECK(r.removed_blobs == 2);
  CHECK(r.removed_bytes == 3);
  CHECK(r.kept_blobs == 0);
  CHECK(f.store.has_blob(a.digest));
  CHECK(f.store.has_blob(b.digest));
  CHECK(f.store.list_blobs().size() == 2);
}

TEST_CASE("gc registers and collects blob files without a row", "[cache][gc]") {
  Fixture f;
  const std::string content = "published, then the process died before its commit";
  const auto digest = oci::Digest::of(content);
  util::write_file_atomic(f.store.blob_path(digest), content, 0444);
  CHECK(f.store.list_blobs().empty());
  Store::GcOptions options;
  options.dry_run = true;
  options.now = std::time(nullptr) + 60;  // the file's mtime is real time, within grace
  auto r = f.store.gc(options);
  CHECK(r.registered == 1);
  CHECK(r.removed_blobs == 0);
  options.now = std::time(nullptr) + k_day;
  options.dry_run = false;
  r = f.store.gc(options);
  CHECK(r.registered == 1);
  CHECK(r.removed_blobs == 1);
  CHECK_FALSE(fs::exists(f.store.blob_path(digest)));
}

TEST_CASE("gc refuses to guess when a tagged manifest is unreadable", "[cache][gc]") {
  Fixture f;
  const auto junk = f.put("this is not JSON", oci::media::k_oci_manifest);
  const auto other = f.layer("other");
  f.store.set_tag({"broken", junk.digest, "", 0});
  f.at(k_t0 + k_day);
  try {
    f.store.gc({});
    FAIL("gc went on with an unreadable root");
  } catch (const util::Error& e) {
    CHECK(e.kind() == util::ErrorKind::Corruption);
    CHECK_THAT(e.what(), Catch::Contains("broken") && Catch::Contains(junk.digest.str()));
  }
  CHECK(f.store.has_blob(other.digest));
}

TEST_CASE("verify removes corrupted and missing blobs with their cache entries",
          "[cache][verify]") {
  Fixture f;
  const auto good = f.layer("good layer");
  const auto bad = f.layer("layer that will rot");
  const auto gone = f.layer("layer whose file disappears");
  f.store.put_layer({std::string(64, 'b'), oci::Digest::of("d"), bad.digest, 1, "", ""});
  f.store.put_layer({std::string(64, 'g'), oci::Digest::of("d"), good.digest, 1, "", ""});

  // Flip one byte of a read-only blob, as a failing disk or a careless user would.
  const fs::path bad_path = f.store.blob_path(bad.digest);
  REQUIRE(::chmod(bad_path.c_str(), 0644) == 0);
  std::string bytes = util::read_file(bad_path);
  bytes[3] ^= 0x01;
  util::write_file_atomic(bad_path, bytes);
  fs::remove(f.store.blob_path(gone.digest));
  // An intact file without a row, and a stray file.
  const std::string orphan = "orphan";
  util::write_file_atomic(f.store.blob_path(oci::Digest::of(orphan)), orphan, 0444);
  util::write_file_atomic(f.dir.path() / "s" / "blobs" / "sha256" / "not-a-digest", "?");

  const auto r = f.store.verify();
  CHECK(r.checked == 3);  // good, bad, orphan files
  REQUIRE(r.bad.size() == 2);
  REQUIRE(r.issues.size() == 2);
  std::set<oci::Digest> bad_set(r.bad.begin(), r.bad.end());
  CHECK(bad_set == std::set<oci::Digest>{bad.digest, gone.digest});
  for (const auto& issue : r.issues) {
    if (issue.digest == bad.digest) {
      CHECK_THAT(issue.reason, Catch::Contains("hashes to sha256:"));
    } else {
      CHECK(issue.reason == "file is missing");
    }
  }
  REQUIRE(r.registered.size() == 1);
  CHECK(r.registered[0] == oci::Digest::of(orphan));
  REQUIRE(r.stray.size() == 1);
  CHECK(r.stray[0].filename() == "not-a-digest");

  CHECK_FALSE(fs::exists(bad_path));
  CHECK_FALSE(f.store.has_blob(bad.digest));
  CHECK_FALSE(f.store.find_layer(std::string(64, 'b')));
  CHECK(f.store.find_layer(std::string(64, 'g')));
  CHECK(f.store.blob_info(oci::Digest::of(orphan)));
  CHECK(f.present() == std::set<oci::Digest>{good.digest, oci::Digest::of(orphan)});

  // A second pass finds nothing wrong.
  const auto again = f.store.verify();
  CHECK(again.bad.empty());
  CHECK(again.registered.empty());
  CHECK(again.checked == 2);
}
