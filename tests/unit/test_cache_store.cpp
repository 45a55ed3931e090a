// The blob store: writing, reading, layout, atomicity, the build cache and tags.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include "cache/store.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace strata;
using cache::Store;
namespace fs = std::filesystem;

namespace {

std::size_t count_files(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    n += entry.is_regular_file() ? 1 : 0;
  }
  return n;
}

util::Error error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const util::Error& e) {
    return e;
  }
  FAIL("expected a strata::util::Error");
  return util::Error(util::ErrorKind::Internal, "unreachable");
}

// Sets an environment variable for the scope of a test and restores it afterwards.
class EnvVar {
 public:
  EnvVar(const char* name, const char* value) : m_name(name) {
    if (const char* old = std::getenv(name)) {
      m_old = old;
    }
    value != nullptr ? ::setenv(name, value, 1) : ::unsetenv(name);
  }
  ~EnvVar() { m_old ? ::setenv(m_name, m_old->c_str(), 1) : ::unsetenv(m_name); }
  EnvVar(const EnvVar&) = delete;
  EnvVar& operator=(const EnvVar&) = delete;

 private:
  const char* m_name;
  std::optional<std::string> m_old;
};

cache::LayerRecord layer_for(Store& store, const std::string& key, const std::string& content) {
  cache::LayerRecord r;
  r.key = key;
  r.diff_id = oci::Digest::of("uncompressed " + content);
  r.blob = store.put_blob(content, "application/vnd.oci.image.layer.v1.tar+zstd");
  r.size = content.size();
  r.media_type = "application/vnd.oci.image.layer.v1.tar+zstd";
  r.created_by = "debian: " + content;
  return r;
}

}  // namespace

TEST_CASE("put, has, read and open a blob", "[cache][store]") {
  util::TempDir dir("store");
  Store store(dir.path() / "s");
  const std::string data = R"({"schemaVersion":2})";
  const auto digest = store.put_blob(data, "application/vnd.oci.image.config.v1+json");
  CHECK(digest == oci::Digest::of(data));
  CHECK(store.has_blob(digest));
  CHECK_FALSE(store.has_blob(oci::Digest::of("something else")));
  CHECK(store.read_blob(digest) == data);

  auto source = store.open_blob(digest);
  util::StringSink sink;
  util::copy_stream(*source, sink);
  CHECK(sink.str() == data);

  const auto info = store.blob_info(digest);
  REQUIRE(info);
  CHECK(info->size == data.size());
  CHECK(info->media_type == "application/vnd.oci.image.config.v1+json");
  CHECK(info->last_used > 0);
  REQUIRE(store.list_blobs().size() == 1);
  CHECK(store.list_blobs()[0].digest == digest);

  // Persisted: a second instance sees the same.
  Store again(dir.path() / "s");
  CHECK(again.read_blob(digest) == data);
  CHECK(again.blob_info(digest)->media_type == "application/vnd.oci.image.config.v1+json");
}

TEST_CASE("blob files are laid out by algorithm and hex, read-only", "[cache][store]") {
  util::TempDir dir("store");
  const fs::path root = dir.path() / "s";
  Store store(root);
  CHECK(fs::is_directory(root / "tmp"));
  CHECK(fs::is_regular_file(root / "strata.db"));
  const auto digest = store.put_blob("layer bytes", "application/octet-stream");
  const fs::path path = root / "blobs" / "sha256" / digest.hex();
  CHECK(store.blob_path(digest) == path);
  REQUIRE(fs::is_regular_file(path));
  CHECK(util::read_file(path) == "layer bytes");
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0444);

  auto writer = store.begin_blob("application/octet-stream", util::HashAlgorithm::Sha512);
  writer.write("sha512 content");
  const auto d512 = writer.commit();
  CHECK(d512.algorithm() == "sha512");
  CHECK(d512 == oci::Digest::of("sha512 content", util::HashAlgorithm::Sha512));
  CHECK(store.blob_path(d512) == root / "blobs" / "sha512" / d512.hex());
  CHECK(store.read_blob(d512) == "sha512 content");
  CHECK(count_files(root / "tmp") == 0);
}

TEST_CASE("a streamed blob is invisible until commit", "[cache][store]") {
  util::TempDir dir("store");
  const fs::path root = dir.path() / "s";
  Store store(root);
  const std::string chunk(100 * 1024, 'z');  // several internal buffers' worth
  const auto expected = [&] {
    std::string all;
    for (int i = 0; i < 5; ++i) {
      all += chunk;
    }
    return oci::Digest::of(all);
  }();
  {
    auto writer = store.begin_blob("application/octet-stream");
    for (int i = 0; i < 5; ++i) {
      writer.write(chunk);
      CHECK(count_files(root / "blobs" / "sha256") == 0);
      CHECK_FALSE(store.has_blob(expected));
    }
    CHECK(writer.size() == 5 * chunk.size());
    CHECK(count_files(root / "tmp") == 1);
    CHECK(writer.commit(expected) == expected);
    CHECK(count_files(root / "blobs" / "sha256") == 1);
    CHECK(store.has_blob(expected));
  }
  CHECK(count_files(root / "tmp") == 0);
  {
    auto abandoned = store.begin_blob("application/octet-stream");
    abandoned.write("never committed");
    CHECK(count_files(root / "tmp") == 1);
  }
  CHECK(count_files(root / "tmp") == 0);
  CHECK(count_files(root / "blobs" / "sha256") == 1);
  CHECK(store.list_blobs().size() == 1);
}

TEST_CASE("an expected digest mismatch stores nothing", "[cache][store]") {
  util::TempDir dir("store");
  const fs::path root = dir.path() / "s";
  Store store(root);
  const auto promised = oci::Digest::of("what the registry promised");
  auto writer = store.begin_blob("application/octet-stream");
  writer.write("what actually arrived");
  const auto e = error_of([&] { writer.commit(promised); });
  CHECK(e.kind() == util::ErrorKind::Corruption);
  CHECK_THAT(e.what(),
             Catch::StartsWith("blob digest mismatch: expected " + promised.str() + ", got " +
                               oci::Digest::of("what actually arrived").str()));
  CHECK(count_files(root / "blobs" / "sha256") == 0);
  CHECK(count_files(root / "tmp") == 0);
  CHECK(store.list_blobs().empty());
  CHECK_FALSE(store.has_blob(oci::Digest::of("what actually arrived")));
  CHECK_FALSE(store.has_blob(promised));
  // The writer is finished: a second commit is a bug, not a silent success.
  CHECK(error_of([&] { writer.commit(); }).kind() == util::ErrorKind::Internal);
}

TEST_CASE("storing the same content twice keeps one blob", "[cache][store]") {
  util::TempDir dir("store");
  const fs::path root = dir.path() / "s";
  Store store(root);
  const auto a = store.put_blob("same", "text/plain");
  auto writer = store.begin_blob("application/other");
  writer.write("same");
  CHECK(writer.commit() == a);
  CHECK(store.put_blob("same", "") == a);
  CHECK(count_files(root / "blobs" / "sha256") == 1);
  CHECK(count_files(root / "tmp") == 0);
  REQUIRE(store.list_blobs().size() == 1);
  CHECK(store.blob_info(a)->media_type == "text/plain");  // the first known type stays
}

TEST_CASE("a damaged blob is reported, never served", "[cache][store]") {
  util::TempDir dir("store");
  Store store(dir.path() / "s");
  const auto missing = oci::Digest::of("absent");
  auto e = error_of([&] { (void)store.read_blob(missing); });
  CHECK(e.kind() == util::ErrorKind::NotFound);
  CHECK_THAT(e.what(), Catch::Contains(missing.str()));
  CHECK(error_of([&] { (void)store.open_blob(missing); }).kind() == util::ErrorKind::NotFound);
  CHECK_FALSE(store.blob_info(missing));

  const auto digest = store.put_blob("good content", "text/plain");
  const fs::path path = store.blob_path(digest);
  ::chmod(path.c_str(), 0644);
  util::write_file_atomic(path, "evil, longer content");
  e = error_of([&] { (void)store.read_blob(digest); });
  CHECK(e.kind() == util::ErrorKind::Corruption);
  CHECK_THAT(e.what(), Catch::Contains(digest.str()) && Catch::Contains("verify"));
  // A later put of the right content repairs the file (different size: replaced).
  CHECK(store.put_blob("good content", "text/plain") == digest);
  CHECK(store.read_blob(digest) == "good content");
}

TEST_CASE("build cache records layers by key", "[cache][store]") {
  util::TempDir dir("store");
  Store store(dir.path() / "s");
  CHECK_FALSE(store.find_layer("0123"));
  const auto record = layer_for(store, std::string(64, 'a'), "layer one");
  store.put_layer(record);
  auto found = store.find_layer(record.key);
  REQUIRE(found);
  CHECK(found->key == record.key);
  CHECK(found->diff_id == record.diff_id);
  CHECK(found->blob == record.blob);
  CHECK(found->size == record.size);
  CHECK(found->media_type == record.media_type);
  CHECK(found->created_by == record.created_by);

  // Replacing a key points it at the new layer.
  auto other = layer_for(store, record.key, "layer two");
  store.put_layer(other);
  CHECK(store.find_layer(record.key)->blob == other.blob);

  // A record for a blob the store does not hold is refused.
  cache::LayerRecord bad = record;
  bad.key = std::string(64, 'b');
  bad.blob = oci::Digest::of("not stored");
  const auto e = error_of([&] { store.put_layer(bad); });
  CHECK(e.kind() == util::ErrorKind::NotFound);
  CHECK_THAT(e.what(), Catch::Contains(bad.blob.str()) && Catch::Contains(bad.key));
  CHECK_FALSE(store.find_layer(bad.key));
  CHECK(error_of([&] {
          cache::LayerRecord empty = record;
          empty.key.clear();
          store.put_layer(empty);
        }).kind() == util::ErrorKind::InvalidInput);
}

TEST_CASE("a layer record whose blob file is gone is dropped", "[cache][store]") {
  util::TempDir dir("store");
  Store store(dir.path() / "s");
  const auto record = layer_for(store, std::string(64, 'c'), "vanishing layer");
  store.put_layer(record);
  REQUIRE(store.find_layer(record.key));
  fs::remove(store.blob_path(record.blob));
  CHECK_FALSE(store.has_blob(record.blob));
  CHECK_FALSE(store.find_layer(record.key));
  CHECK_FALSE(store.blob_info(record.blob));
  for (const auto& b : store.list_blobs()) {
    CHECK(b.digest != record.blob);  // the dangling blob row went too
  }
  // Even when the same blob comes back, the old record stays gone.
  store.put_blob("vanishing layer", record.media_type);
  CHECK_FALSE(store.find_layer(record.key));
}

TEST_CASE("touching a blob refreshes its last use", "[cache][store]") {
  util::TempDir dir("store");
  Store store(dir.path() / "s");
  const auto digest = store.put_blob("touched", "");
  const auto before = store.blob_info(digest)->last_used;
  store.touch_blob(digest);
  CHECK(store.blob_info(digest)->last_used >= before);
  CHECK(error_of([&] { store.touch_blob(oci::Digest::of("nope")); }).kind() ==
        util::ErrorKind::NotFound);
}

TEST_CASE("tags name manifests in the store", "[cache][store]") {
  util::TempDir dir("store");
  Store store(dir.path() / "s");
  const auto m1 = store.put_blob(R"({"m":1})", "application/vnd.oci.image.manifest.v1+json");
  const auto m2 = store.put_blob(R"({"m":2})", "application/vnd.oci.image.manifest.v1+json");
  store.set_tag({"team/env:1", m1, "", 0});
  store.set_tag({"team/env:2", m2, "application/vnd.oci.image.manifest.v1+json", 1234});
  auto t1 = store.find_tag("team/env:1");
  REQUIRE(t1);
  CHECK(t1->manifest == m1);
  CHECK(t1->media_type == "application/vnd.oci.image.manifest.v1+json");  // from the blob
  CHECK(t1->updated > 1234);
  CHECK(store.find_tag("team/env:2")->updated == 1234);
  auto tags = store.list_tags();
  REQUIRE(tags.size() == 2);
  CHECK(tags[0].name == "team/env:1");
  CHECK(tags[1].name == "team/env:2");

  store.set_tag({"team/env:1", m2, "", 0});  // move
  CHECK(store.find_tag("team/env:1")->manifest == m2);
  store.remove_tag("team/env:1");
  CHECK_FALSE(store.find_tag("team/env:1"));
  CHECK(store.list_tags().size() == 1);
  CHECK(error_of([&] { store.remove_tag("team/env:1"); }).kind() == util::ErrorKind::NotFound);
  const auto e = error_of([&] { store.set_tag({"x", oci::Digest::of("absent"), "", 0}); });
  CHECK(e.kind() == util::ErrorKind::NotFound);
  CHECK_THAT(e.what(), Catch::Contains(oci::Digest::of("absent").str()));
}

TEST_CASE("stale temp files are swept, live writers are not", "[cache][store]") {
  util::TempDir dir("store");
  const fs::path root = dir.path() / "s";
  { Store store(root); }
  util::write_file_atomic(root / "tmp" / "blob-crashed", "half a layer");
  Store store(root);
  CHECK(fs::exists(root / "tmp" / "blob-crashed"));  // fresh: kept on open
  auto live = store.begin_blob("application/octet-stream");
  live.write("in progress");
  CHECK(store.sweep_temp(0) == 1);
  CHECK_FALSE(fs::exists(root / "tmp" / "blob-crashed"));
  CHECK(count_files(root / "tmp") == 1);  // the live writer's file
  const auto digest = live.commit();
  CHECK(store.read_blob(digest) == "in progress");
}

TEST_CASE("the default root follows STRATA_HOME, XDG_CACHE_HOME, HOME", "[cache][store]") {
  {
    EnvVar a("STRATA_HOME", "/srv/strata");
    EnvVar b("XDG_CACHE_HOME", "/xdg");
    CHECK(Store::default_root() == fs::path("/srv/strata"));
  }
  {
    EnvVar a("STRATA_HOME", nullptr);
    EnvVar b("XDG_CACHE_HOME", "/xdg");
    CHECK(Store::default_root() == fs::path("/xdg/strata"));
  }
  {
    EnvVar a("STRATA_HOME", nullptr);
    EnvVar b("XDG_CACHE_HOME", "relative/ignored");
    EnvVar c("HOME", "/home/ds");
    CHECK(Store::default_root() == fs::path("/home/ds/.cache/strata"));
  }
  {
    EnvVar a("STRATA_HOME", nullptr);
    EnvVar b("XDG_CACHE_HOME", nullptr);
    EnvVar c("HOME", nullptr);
    if (::geteuid() == 0) {
      CHECK(Store::default_root() == fs::path("/var/lib/strata"));
    } else {
      CHECK(error_of([] { (void)Store::default_root(); }).kind() == util::ErrorKind::InvalidInput);
    }
  }
}
