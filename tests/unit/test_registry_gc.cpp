// Registry GC: what survives (tags, young untagged manifests, index children, referrers of
// live subjects, anything within the grace period) and what goes, checked through the
// HTTP API of a running server and the store on disk.
#include <catch2/catch.hpp>

#include <chrono>

#include "registry/server/gc.hpp"
#include "registry/server/metadata.hpp"
#include "cache/database.hpp"
#include "registry_fixture.hpp"
#include "util/error.hpp"

namespace reg = strata::registry;
using reg::test::image_manifest;
using reg::test::push_blob;
using reg::test::TestRegistry;
using strata::oci::Digest;

namespace {

constexpr std::int64_t k_hour = 3600;

/// A registry whose fake clock starts at the real time (store files carry real mtimes).
struct Fixture {
  TestRegistry reg;
  Fixture() {
    const auto real = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
    reg.advance(real - reg.now());
  }
  reg::GcReport gc(bool dry_run = false) {
    reg::GcOptions o;
    o.root = reg.root();
    o.now = reg.now();
    o.dry_run = dry_run;
    o.settle = std::chrono::milliseconds(0);
    return reg::collect_garbage(o);
  }
  int blob_status(const std::string& repo, const Digest& d) {
    auto c = reg.client();
    auto res = c.Get("/v2/" + repo + "/blobs/" + d.str());
    return res ? res->status : -1;
  }
  int manifest_status(const std::string& repo, const std::string& ref) {
    auto c = reg.client();
    auto res = c.Get("/v2/" + repo + "/manifests/" + ref);
    return res ? res->status : -1;
  }
  bool in_store(const Digest& d) const {
    return std::filesystem::exists(reg.root() / "blobs" / d.algorithm() / d.hex());
  }
  /// Pushes config + one layer + manifest; returns the manifest digest.
  Digest push_image(const std::string& repo, const std::string& ref, const std::string& config,
                    const std::string& layer, const nlohmann::json& extra = nlohmann::json::object()) {
    auto c = reg.client();
    push_blob(c, repo, config);
    push_blob(c, repo, layer);
    const std::string m = image_manifest(config, {layer}, extra);
    auto res = c.Put("/v2/" + repo + "/manifests/" + ref, m,
                     "application/vnd.oci.image.manifest.v1+json");
    REQUIRE(res);
    REQUIRE(res->status == 201);
    return Digest::of(m);
  }
};

bool has_digest(const std::vector<reg::GcItem>& items, const Digest& d) {
  for (const auto& item : items) {
    if (item.digest == d.str()) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("gc keeps tagged images and removes an orphan blob only after the grace period") {
  Fixture f;
  f.push_image("team/app", "v1", "{\"config\":1}", "layer-one");
  auto c = f.reg.client();
  const Digest orphan = push_blob(c, "team/app", "orphan bytes");

  auto r = f.gc();
  CHECK(r.links.empty());
  CHECK(r.blobs.empty());
  CHECK(f.blob_status("team/app", orphan) == 200);  // within the grace period

  f.reg.advance(2 * k_hour);
  r = f.gc();
  CHECK(has_digest(r.links, orphan));
  CHECK(has_digest(r.blobs, orphan));
  CHECK(r.bytes == std::string("orphan bytes").size());
  CHECK(f.blob_status("team/app", orphan) == 404);
  CHECK_FALSE(f.in_store(orphan));
  CHECK(f.manifest_status("team/app", "v1") == 200);
  CHECK(f.blob_status("team/app", Digest::of("layer-one")) == 200);
  CHECK(f.blob_status("team/app", Digest::of("{\"config\":1}")) == 200);
}

TEST_CASE("gc dry run reports but changes nothing") {
  Fixture f;
  auto c = f.reg.client();
  const Digest orphan = push_blob(c, "r", "lonely");
  f.reg.advance(2 * k_hour);
  const auto r = f.gc(true);
  CHECK(has_digest(r.links, orphan));
  CHECK(has_digest(r.blobs, orphan));
  CHECK(f.blob_status("r", orphan) == 200);
  CHECK(f.in_store(orphan));
}

TEST_CASE("gc removes untagged manifests after the retention, then their blobs") {
  Fixture f;
  const std::string m = image_manifest("{\"c\":2}", {"untagged-layer"});
  const Digest md = Digest::of(m);
  f.push_image("r", md.str(), "{\"c\":2}", "untagged-layer");
  f.push_image("r", "keep", "{\"c\":3}", "tagged-layer");

  f.reg.advance(2 * k_hour);  // past the grace period, within the 24h retention
  auto r = f.gc();
  CHECK(r.manifests.empty());
  CHECK(f.manifest_status("r", md.str()) == 200);
  CHECK(f.blob_status("r", Digest::of("untagged-layer")) == 200);

  f.reg.advance(24 * k_hour);
  r = f.gc();
  CHECK(has_digest(r.manifests, md));
  CHECK(has_digest(r.blobs, Digest::of("untagged-layer")));
  CHECK(f.manifest_status("r", md.str()) == 404);
  CHECK(f.blob_status("r", Digest::of("untagged-layer")) == 404);
  CHECK_FALSE(f.in_store(Digest::of("untagged-layer")));
  CHECK(f.manifest_status("r", "keep") == 200);
  CHECK(f.blob_status("r", Digest::of("tagged-layer")) == 200);
}

TEST_CASE("gc keeps index children and referrers of live subjects; deleting the tag frees them") {
  Fixture f;
  const std::string child_text = image_manifest("{\"arch\":\"amd64\"}", {"child-layer"});
  const Digest child = f.push_image("r", Digest::of(child_text).str(), "{\"arch\":\"amd64\"}",
                                    "child-layer");
  nlohmann::json index = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.index.v1+json"},
      {"manifests",
       {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
         {"digest", child.str()},
         {"size", child_text.size()}}}}};
  auto c = f.reg.client();
  auto res = c.Put("/v2/r/manifests/multi", index.dump(),
                   "application/vnd.oci.image.index.v1+json");
  REQUIRE(res);
  REQUIRE(res->status == 201);
  const nlohmann::json subject = {{"subject",
                                   {{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                    {"digest", child.str()},
                                    {"size", child_text.size()}}}};
  const std::string sig_text = image_manifest("{\"sig\":1}", {"signature"}, subject);
  const Digest sig =
      f.push_image("r", Digest::of(sig_text).str(), "{\"sig\":1}", "signature", subject);

  f.reg.advance(48 * k_hour);
  auto r = f.gc();
  CHECK(r.manifests.empty());
  CHECK(r.links.empty());
  CHECK(f.manifest_status("r", child.str()) == 200);
  CHECK(f.manifest_status("r", sig.str()) == 200);
  CHECK(f.blob_status("r", Digest::of("signature")) == 200);

  res = c.Delete("/v2/r/manifests/multi");
  REQUIRE(res);
  REQUIRE(res->status == 202);
  f.reg.advance(48 * k_hour);
  r = f.gc();
  CHECK(has_digest(r.manifests, child));
  CHECK(has_digest(r.manifests, sig));
  CHECK(f.manifest_status("r", child.str()) == 404);
  CHECK(f.blob_status("r", Digest::of("child-layer")) == 404);
  CHECK(f.blob_status("r", Digest::of("signature")) == 404);
}

TEST_CASE("a HEAD within the grace period keeps an old blob for the manifest that follows") {
  Fixture f;
  auto c = f.reg.client();
  const Digest config = push_blob(c, "r", "{\"late\":1}");
  const Digest layer = push_blob(c, "r", "late-layer");
  f.reg.advance(10 * k_hour);
  // A client checks the blobs exist (skipping their upload), then GC runs, then the PUT.
  for (const auto& d : {config, layer}) {
    auto head = c.Head("/v2/r/blobs/" + d.str());
    REQUIRE(head);
    REQUIRE(head->status == 200);
  }
  const auto r = f.gc();
  CHECK(r.links.empty());
  auto res = c.Put("/v2/r/manifests/late", image_manifest("{\"late\":1}", {"late-layer"}),
                   "application/vnd.oci.image.manifest.v1+json");
  REQUIRE(res);
  CHECK(res->status == 201);
}

namespace {

/// Pushes a one-layer child image by digest and an index over it tagged `tag`; returns
/// the index text and the child's digest.
std::pair<std::string, Digest> push_index(Fixture& f, const std::string& tag,
                                          const std::string& layer) {
  const std::string config = "{\"arch\":\"" + layer + "\"}";
  const std::string child_text = image_manifest(config, {layer});
  const Digest child = f.push_image("r", Digest::of(child_text).str(), config, layer);
  const nlohmann::json index = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.index.v1+json"},
      {"manifests",
       {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
         {"digest", child.str()},
         {"size", child_text.size()}}}}};
  auto c = f.reg.client();
  auto res = c.Put("/v2/r/manifests/" + tag, index.dump(),
                   "application/vnd.oci.image.index.v1+json");
  REQUIRE(res);
  REQUIRE(res->status == 201);
  return {index.dump(), child};
}

}  // namespace

TEST_CASE("an index re-pushed while gc runs keeps its children's blobs") {
  Fixture f;
  const auto [index, child] = push_index(f, "multi", "race-layer");
  auto c = f.reg.client();
  auto res = c.Delete("/v2/r/manifests/multi");  // untagged: garbage once old
  REQUIRE(res);
  REQUIRE(res->status == 202);
  f.reg.advance(48 * k_hour);

  // GC marks the repository (nothing live), then the index is pushed again under its tag
  // (a client that skips children the registry already has), then GC sweeps.
  reg::GcOptions o;
  o.root = f.reg.root();
  o.now = f.reg.now();
  o.settle = std::chrono::milliseconds(0);
  int repushed = 0;
  o.after_mark = [&, index = index](const std::string& repo) {
    if (repo != "r") {
      return;
    }
    auto client = f.reg.client();
    auto put = client.Put("/v2/r/manifests/multi", index,
                          "application/vnd.oci.image.index.v1+json");
    REQUIRE(put);
    CHECK(put->status == 201);
    ++repushed;
  };
  const auto report = reg::collect_garbage(o);
  REQUIRE(repushed == 1);
  CHECK(report.manifests.empty());
  CHECK(f.manifest_status("r", "multi") == 200);
  CHECK(f.manifest_status("r", child.str()) == 200);
  // The child's config and layer were not live in GC's mark; the re-push renewed them.
  CHECK(f.blob_status("r", Digest::of("race-layer")) == 200);
  CHECK(f.blob_status("r", Digest::of("{\"arch\":\"race-layer\"}")) == 200);
  CHECK(f.in_store(Digest::of("race-layer")));
}

TEST_CASE("re-pushing an index whose child lost its blobs is MANIFEST_BLOB_UNKNOWN") {
  Fixture f;
  const auto [index, child] = push_index(f, "multi", "lost-layer");
  auto c = f.reg.client();
  auto res = c.Delete("/v2/r/blobs/" + Digest::of("lost-layer").str());
  REQUIRE(res);
  REQUIRE(res->status == 202);
  res = c.Put("/v2/r/manifests/again", index, "application/vnd.oci.image.index.v1+json");
  REQUIRE(res);
  CHECK(res->status == 400);
  CHECK(reg::test::error_code(res) == "MANIFEST_BLOB_UNKNOWN");
  CHECK(res->body.find(Digest::of("lost-layer").str()) != std::string::npos);
  CHECK(f.manifest_status("r", "again") == 404);
}

TEST_CASE("gc skips a repository whose live manifest cannot be read") {
  Fixture f;
  const Digest m = f.push_image("broken", "v1", "{\"b\":1}", "broken-layer");
  auto c = f.reg.client();
  const Digest orphan = push_blob(c, "broken", "orphan-in-broken");
  std::filesystem::remove(f.reg.root() / "blobs" / m.algorithm() / m.hex());
  f.reg.advance(2 * k_hour);
  const auto r = f.gc();
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].find("broken") != std::string::npos);
  CHECK(r.warnings[0].find(m.str()) != std::string::npos);
  CHECK_FALSE(has_digest(r.links, orphan));
  CHECK(f.blob_status("broken", orphan) == 200);
  CHECK(f.blob_status("broken", Digest::of("broken-layer")) == 200);
}

TEST_CASE("gc refuses a directory that is not a registry") {
  strata::util::TempDir dir("strata-gc-test");
  reg::GcOptions o;
  o.root = dir.path() / "nothing";
  try {
    reg::collect_garbage(o);
    FAIL("expected NotFound");
  } catch (const strata::util::Error& e) {
    CHECK(e.kind() == strata::util::ErrorKind::NotFound);
    CHECK(std::string(e.what()).find("registry.db") != std::string::npos);
  }
}

TEST_CASE("metadata: conditional GC deletes lose against a fresh touch or a tag") {
  strata::util::TempDir dir("strata-gc-test");
  std::int64_t now = 1000;
  reg::Metadata meta(dir.path() / "registry.db", [&now] { return now; });
  meta.link_blob("r", "sha256:aa", 100);
  now = 500;
  REQUIRE(meta.blob_linked("r", "sha256:aa"));  // touches at 500
  CHECK(meta.collect_links("r", {"sha256:aa"}, 400).empty());
  CHECK(meta.collect_links("r", {"sha256:aa"}, 501) == std::vector<std::string>{"sha256:aa"});
  CHECK_FALSE(meta.blob_linked("r", "sha256:aa"));

  reg::ManifestPut put;
  put.repo = "r";
  put.digest = "sha256:bb";
  put.media_type = "application/vnd.oci.image.manifest.v1+json";
  put.size = 10;
  put.tags = {"t"};
  put.now = 100;
  meta.put_manifest(put);
  CHECK_FALSE(meta.collect_manifest("r", "sha256:bb", 2000, 2000));  // tagged
  CHECK(meta.collect_links("r", {"sha256:bb"}, 2000).empty());       // a manifest's link
  REQUIRE(meta.delete_tag("r", "t"));
  CHECK_FALSE(meta.collect_manifest("r", "sha256:bb", 50, 2000));  // created after 50
  CHECK(meta.collect_manifest("r", "sha256:bb", 2000, 2000));
  CHECK_FALSE(meta.find_manifest("r", "sha256:bb"));
  CHECK(meta.collect_repository_if_empty("r"));
  CHECK_FALSE(meta.repository_exists("r"));
}

TEST_CASE("metadata: a version 1 database gains touched times equal to link creation") {
  strata::util::TempDir dir("strata-gc-test");
  const auto path = dir.path() / "registry.db";
  {
    strata::cache::Database db(path);
    db.exec(
        "CREATE TABLE repo_blobs (repo TEXT NOT NULL, digest TEXT NOT NULL, created INTEGER "
        "NOT NULL, PRIMARY KEY (repo, digest)) WITHOUT ROWID;"
        "INSERT INTO repo_blobs VALUES ('r', 'sha256:cc', 42);"
        "PRAGMA user_version = 1;");
  }
  reg::Metadata meta(path, [] { return std::int64_t{42}; });
  const auto links = meta.list_links("r");
  REQUIRE(links.size() == 1);
  CHECK(links[0].created == 42);
  CHECK(links[0].touched == 42);
  reg::Metadata again(path);  // reopening does not migrate twice
  CHECK(again.list_links("r").size() == 1);
}
