// Registry fsck: a clean registry is clean; each kind of damage a user could meet is
// reported with its repository and digest, and leftovers are notices only.
#include <catch2/catch.hpp>

#include <fstream>

#include "registry/server/fsck.hpp"
#include "cache/database.hpp"
#include "registry_fixture.hpp"
#include "util/error.hpp"

namespace reg = strata::registry;
using reg::test::image_manifest;
using reg::test::push_blob;
using reg::test::TestRegistry;
using strata::oci::Digest;

namespace {

Digest push_image(TestRegistry& r, const std::string& repo, const std::string& tag,
                  const std::string& config, const std::string& layer) {
  auto c = r.client();
  push_blob(c, repo, config);
  push_blob(c, repo, layer);
  const std::string m = image_manifest(config, {layer});
  auto res = c.Put("/v2/" + repo + "/manifests/" + tag, m,
                   "application/vnd.oci.image.manifest.v1+json");
  REQUIRE(res);
  REQUIRE(res->status == 201);
  return Digest::of(m);
}

std::filesystem::path blob_file(const TestRegistry& r, const Digest& d) {
  return r.root() / "blobs" / d.algorithm() / d.hex();
}

const reg::FsckProblem* find(const reg::FsckReport& report, const std::string& kind) {
  for (const auto& p : report.problems) {
    if (p.kind == kind) {
      return &p;
    }
  }
  return nullptr;
}

}  // namespace

TEST_CASE("fsck: a freshly pushed registry is clean and everything is counted") {
  TestRegistry r;
  push_image(r, "a/b", "v1", "{\"x\":1}", "layer");
  push_image(r, "c", "v2", "{\"x\":2}", "layer");  // shares the layer
  const auto report = reg::check_registry(r.root());
  CHECK(report.clean());
  CHECK(report.problems.empty());
  CHECK(report.blobs == 5);  // two configs, one layer, two manifests
  CHECK(report.repositories == 2);
  CHECK(report.manifests == 2);
  CHECK(report.tags == 2);
  CHECK(report.links == 6);
}

TEST_CASE("fsck: a corrupt layer is reported for the blob and for each manifest using it") {
  TestRegistry r;
  const Digest m = push_image(r, "app", "v1", "{\"x\":1}", "good layer bytes");
  const Digest layer = Digest::of("good layer bytes");
  {
    std::ofstream out(blob_file(r, layer), std::ios::binary | std::ios::trunc);
    out << "evil layer bytes";
  }
  const auto report = reg::check_registry(r.root());
  CHECK_FALSE(report.clean());
  const auto* corrupt = find(report, "blob-corrupt");
  REQUIRE(corrupt != nullptr);
  CHECK(corrupt->digest == layer.str());
  CHECK(corrupt->message.find(Digest::of("evil layer bytes").str()) != std::string::npos);
  const auto* missing = find(report, "blob-missing");
  REQUIRE(missing != nullptr);
  CHECK(missing->repo == "app");
  const auto* ref = find(report, "reference-missing");
  REQUIRE(ref != nullptr);
  CHECK(ref->repo == "app");
  CHECK(ref->digest == m.str());
  CHECK(ref->message.find(layer.str()) != std::string::npos);
}

TEST_CASE("fsck: a deleted manifest file and a dangling tag are errors") {
  TestRegistry r;
  const Digest m = push_image(r, "app", "v1", "{\"x\":1}", "layer");
  std::filesystem::remove(blob_file(r, m));
  {
    strata::cache::Database db(r.root() / "registry.db");
    db.exec(
        "INSERT INTO tags(repo, tag, digest, updated) VALUES ('app', 'ghost', "
        "'sha256:0000000000000000000000000000000000000000000000000000000000000000', 1)");
  }
  const auto report = reg::check_registry(r.root());
  CHECK(report.errors() >= 2);
  const auto* gone = find(report, "manifest-missing");
  REQUIRE(gone != nullptr);
  CHECK(gone->digest == m.str());
  const auto* tag = find(report, "tag-dangling");
  REQUIRE(tag != nullptr);
  CHECK(tag->repo == "app");
  CHECK(tag->message.find("app:ghost") != std::string::npos);
}

TEST_CASE("fsck: upload sessions without files are errors, files without sessions notices") {
  TestRegistry r;
  auto c = r.client();
  auto res = c.Post("/v2/up/blobs/uploads/", "", "application/octet-stream");
  REQUIRE(res);
  REQUIRE(res->status == 202);
  const std::string uuid = res->get_header_value("Docker-Upload-UUID");
  REQUIRE(!uuid.empty());
  std::ofstream(r.root() / "uploads" / "leftover-from-a-crash") << "x";
  auto report = reg::check_registry(r.root());
  CHECK(report.clean());
  CHECK(report.uploads == 1);
  const auto* orphan = find(report, "upload-orphan");
  REQUIRE(orphan != nullptr);
  CHECK(orphan->severity == reg::FsckSeverity::Notice);

  std::filesystem::remove(r.root() / "uploads" / uuid);
  report = reg::check_registry(r.root());
  CHECK_FALSE(report.clean());
  const auto* missing = find(report, "upload-file-missing");
  REQUIRE(missing != nullptr);
  CHECK(missing->digest == uuid);
  CHECK(missing->repo == "up");
}

TEST_CASE("fsck: a directory without a registry is NotFound") {
  strata::util::TempDir dir("strata-fsck-test");
  CHECK_THROWS_AS(reg::check_registry(dir.path()), strata::util::Error);
}
