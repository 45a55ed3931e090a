// Conformance-style tests of the registry's manifest, tag, referrers and catalog
// endpoints, written from the OCI distribution-spec v1.1.
#include "registry_fixture.hpp"

using nlohmann::json;
using strata::oci::Digest;
using strata::registry::test::error_code;
using strata::registry::test::image_manifest;
using strata::registry::test::push_blob;
using strata::registry::test::TestRegistry;

namespace {

const std::string k_manifest = "application/vnd.oci.image.manifest.v1+json";
const std::string k_index = "application/vnd.oci.image.index.v1+json";
const std::string k_docker_manifest = "application/vnd.docker.distribution.manifest.v2+json";

/// Pushes config + one layer into `repo` and returns the manifest text.
std::string prepared_manifest(httplib::Client& c, const std::string& repo,
                              const std::string& seed = "1", const json& extra = json::object()) {
  const std::string config = R"({"architecture":"amd64","os":"linux","seed":")" + seed + "\"}";
  const std::string layer = "layer bytes " + seed;
  push_blob(c, repo, config);
  push_blob(c, repo, layer);
  return image_manifest(config, {layer}, extra);
}

httplib::Result put_manifest(httplib::Client& c, const std::string& repo, const std::string& ref,
                             const std::string& body, const std::string& type = k_manifest) {
  auto res = c.Put("/v2/" + repo + "/manifests/" + ref, body, type);
  REQUIRE(res);
  return res;
}

json tags_of(httplib::Client& c, const std::string& target) {
  auto res = c.Get(target);
  REQUIRE(res);
  REQUIRE(res->status == 200);
  return json::parse(res->body);
}

}  // namespace

TEST_CASE("manifest PUT by tag, then GET and HEAD by tag and digest", "[registry]") {
  TestRegistry reg;
  auto c = reg.client();
  const std::string body = prepared_manifest(c, "img");
  const auto digest = Digest::of(body);
  auto put = put_manifest(c, "img", "v1", body);
  CHECK(put->status == 201);
  CHECK(put->get_header_value("Location") == "/v2/img/manifests/" + digest.str());
  CHECK(put->get_header_value("Docker-Content-Digest") == digest.str());
  CHECK(!put->has_header("OCI-Subject"));

  for (const std::string& ref : {std::string("v1"), digest.str()}) {
    INFO(ref);
    auto get = c.Get("/v2/img/manifests/" + ref);
    REQUIRE(get);
    CHECK(get->status == 200);
    CHECK(get->body == body);
    CHECK(get->get_header_value("Content-Type") == k_manifest);
    CHECK(get->get_header_value("Docker-Content-Digest") == digest.str());
    auto head = c.Head("/v2/img/manifests/" + ref);
    REQUIRE(head);
    CHECK(head->status == 200);
    CHECK(head->body.empty());
    CHECK(head->get_header_value("Content-Length") == std::to_string(body.size()));
    CHECK(head->get_header_value("Docker-Content-Digest") == digest.str());
  }
  SECTION("the manifest is also readable as a blob of the repository") {
    CHECK(c.Get("/v2/img/blobs/" + digest.str())->body == body);
  }
  SECTION("unknown references") {
    auto tag = c.Get("/v2/img/manifests/v2");
    CHECK(tag->status == 404);
    CHECK(error_code(tag) == "MANIFEST_UNKNOWN");
    auto other_repo = c.Get("/v2/other/manifests/" + digest.str());
    CHECK(other_repo->status == 404);
    CHECK(c.Head("/v2/img/manifests/" + Digest::of("x").str())->status == 404);
    CHECK(error_code(c.Get("/v2/img/manifests/sha256:short")) == "DIGEST_INVALID");
    CHECK(error_code(c.Get("/v2/img/manifests/-bad-tag")) == "MANIFEST_INVALID");
  }
}

TEST_CASE("manifest bytes and media type are kept exactly", "[registry]") {
  TestRegistry reg;
  auto c = reg.client();
  const std::string config = R"({"os":"linux"})";
  push_blob(c, "docker", config);
  // Odd spacing and key order must survive byte for byte; Docker schema2 media type.
  const std::string body = "{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"" + k_docker_manifest +
                           "\",\n  \"config\": {\"mediaType\": "
                           "\"application/vnd.docker.container.image.v1+json\", \"size\": " +
                           std::to_string(config.size()) + ", \"digest\": \"" +
                           Digest::of(config).str() + "\"},\n  \"layers\": []\n}\n";
  auto put = put_manifest(c, "docker", "latest", body, k_docker_manifest + "; charset=utf-8");
  CHECK(put->status == 201);
  auto get = c.Get("/v2/docker/manifests/latest");
  CHECK(get->body == body);
  CHECK(get->get_header_value("Content-Type") == k_docker_manifest);
}

TEST_CASE("manifest PUT checks referenced blobs", "[registry]") {
  TestRegistry reg;
  auto c = reg.client();
  const std::string config = R"({"os":"linux"})";
  const std::string layer = "missing layer";
  push_blob(c, "check", config);
  push_blob(c, "elsewhere", layer);  // present in the registry, but not in this repository
  auto put = put_manifest(c, "check", "v1", image_manifest(config, {layer}));
  CHECK(put->status == 400);
  CHECK(error_code(put) == "MANIFEST_BLOB_UNKNOWN");
  CHECK(put->body.find(Digest::of(layer).str()) != std::string::npos);
  CHECK(c.Get("/v2/check/manifests/v1")->status == 404);

  SECTION("after the blob is mounted the push succeeds") {
    CHECK(c.Post("/v2/check/blobs/uploads/?mount=" + Digest::of(layer).str() + "&from=elsewhere",
                 "", "application/octet-stream")
              ->status == 201);
    CHECK(put_manifest(c, "check", "v1", image_manifest(config, {layer}))->status == 201);
  }
  SECTION("foreign layers with urls need not be present") {
    json extra = {{"layers",
                   {{{"mediaType", "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"},
                     {"digest", Digest::of(layer).str()},
                     {"size", layer.size()},
                     {"urls", {"https://example.invalid/layer"}}}}}};
    CHECK(put_manifest(c, "check", "foreign", image_manifest(config, {}, extra))->status == 201);
  }
}

TEST_CASE("invalid manifests are rejected with MANIFEST_INVALID", "[registry]") {
  TestRegistry reg;
  auto c = reg.client();
  const std::string good = prepared_manifest(c, "bad");
  const auto expect_invalid = [&](const std::string& body, const std::string& type) {
    auto res = put_manifest(c, "bad", "t", body, type);
    CHECK(res->status == 400);
    CHECK(error_code(res) == "MANIFEST_INVALID");
  };
  expect_invalid("{not json", k_manifest);
  expect_invalid("[1,2]", k_manifest);
  expect_invalid(good, k_index);  // Content-Type disagrees with mediaType
  expect_invalid(good, "application/vnd.example.unknown+json");
  json broken = json::parse(good);
  broken["layers"][0]["digest"] = "sha256:nothex";
  expect_invalid(broken.dump(), k_manifest);
  broken = json::parse(good);
  broken["schemaVersion"] = 1;
  expect_invalid(broken.dump(), k_manifest);
  broken = json::parse(good);
  broken["config"]["size"] = -1;
  expect_invalid(broken.dump(), k_manifest);
  auto bad_tag = put_manifest(c, "bad", "-tag", good);
  CHECK(bad_tag->status == 400);
  CHECK(tags_of(c, "/v2/bad/tags/list")["tags"].empty());  // nothing was stored
}

TEST_CASE("manifests over 4 MiB get 413", "[registry]") {
  TestRegistry reg;
  auto c = reg.client();
  json m = json::parse(prepared_manifest(c, "big"));
  m["annotations"] = {{"padding", std::string(4 * 1024 * 1024, 'p')}};
  auto res = put_manifest(c, "big", "huge", m.dump());
  CHECK(res->status == 413);
  m["annotations"] = {{"padding", std::string(4 * 1024 * 1024 - 4096, 'p')}};
  CHECK(put_manifest(c, "big", "fits", m.dump())->status == 201);
}

TEST_CASE("push by digest, with tag parameters", "[registry]") {
  TestRegistry reg;
  auto c = reg.client();
  const std::string body = prepared_manifest(c, "bydigest");
  const auto digest = Digest::of(body);

  auto wrong = put_manifest(c, "bydigest", Digest::of("other").str(), body);
  CHECK(wrong->status == 400);
  CHECK(error_code(wrong) == "DIGEST_INVALID");

  auto res = c.Put("/v2/bydigest/manifests/" + digest.str() + "?tag=1.0&tag=latest", body, k_manifest);
  REQUIRE(res);
  CHECK(res->status == 201);
  CHECK(res->get_header_value("Docker-Content-Digest") == digest.str());
  CHECK(res->get_header_value_count("OCI-Tag") == 2);
  CHECK(tags_of(c, "/v2/bydigest/tags/list")["tags"] == json({"1.0", "latest"}));

  SECTION("sha512") {
    const auto d512 = Digest::of(body, strata::util::HashAlgorithm::Sha512);
    auto put = put_manifest(c, "bydigest", d512.str(), body);
    CHECK(put->status == 201);
    CHECK(put->get_header_value("Docker-Content-Digest") == d512.str());
    CHECK(c.Get("/v2/bydigest/manifests/" + d512.str())->body == body);
  }
}

TEST_CASE("an index must reference manifests of the repository", "[registry]") {
  TestRegistry reg;
  auto c = reg.client();
  const std::string child = prepared_manifest(c, "multi");
  const json index = {{"schemaVersion", 2},
                      {"mediaType", k_index},
                      {"manifests",
                       {{{"mediaType", k_manifest},
                         {"digest", Digest::of(child).str()},
                         {"size", child.size()},
                         {"platform", {{"architecture", "amd64"}, {"os", "linux"}}}}}}};
  auto missing = put_manifest(c, "multi", "latest", index.dump(), k_index);
  CHECK(missing->status == 400);
  CHECK(error_code(missing) == "MANIFEST_BLOB_UNKNOWN");
  CHECK(put_manifest(c, "multi", Digest::of(child).str(), child)->status == 201);
  auto ok = put_manifest(c, "multi", "latest", index.dump(), k_index);
  CHECK(ok->status == 201);
  CHECK(c.Get("/v2/multi/manifests/latest")->get_header_value("Content-Type") == k_index);
}

TEST_CASE("referrers: subject, OCI-Subject, artifactType filter", "[registry]") {
  TestRegistry reg;
  auto c = reg.client();
  const std::string subject_body = prepared_manifest(c, "ref");
  const auto subject = Digest::of(subject_body);
  const json subject_desc = {{"mediaType", k_manifest},
                             {"digest", subject.str()},
                             {"size", subject_body.size()}};

  // An SBOM pushed before its subject exists: accepted, with OCI-Subject.
  const std::string sbom =
      prepared_manifest(c, "ref", "sbom",
                        {{"artifactType", "application/vnd.example.sbom"},
                         {"subject", subject_desc},
                         {"annotations", {{"org.example.kind", "sbom"}}}});
  auto put = put_manifest(c, "ref", Digest::of(sbom).str(), sbom);
  CHECK(put->status == 201);
  CHECK(put->get_header_value("OCI-Subject") == subject.str());
  // A signature without artifactType: the config media type stands in.
  const std::string sig = prepared_manifest(c, "ref", "sig", {{"subject", subject_desc}});
  CHECK(put_manifest(c, "ref", Digest::of(sig).str(), sig)->status == 201);
  CHECK(put_manifest(c, "ref", "v1", subject_body)->status == 201);

  auto all = c.Get("/v2/ref/referrers/" + subject.str());
  REQUIRE(all);
  CHECK(all->status == 200);
  CHECK(all->get_header_value("Content-Type") == k_index);
  CHECK(!all->has_header("OCI-Filters-Applied"));
  const json index = json::parse(all->body);
  CHECK(index["schemaVersion"] == 2);
  CHECK(index["mediaType"] == k_index);
  REQUIRE(index["manifests"].size() == 2);
  for (const auto& d : index["manifests"]) {
    if (d["digest"] == Digest::of(sbom).str()) {
      CHECK(d["artifactType"] == "application/vnd.example.sbom");
      CHECK(d["annotations"]["org.example.kind"] == "sbom");
      CHECK(d["size"] == sbom.size());
      CHECK(d["mediaType"] == k_manifest);
    } else {
      CHECK(d["digest"] == Digest::of(sig).str());
      CHECK(d["artifactType"] == "application/vnd.oci.image.config.v1+json");
      CHECK(!d.contains("annotations"));
    }
  }

  auto filtered = c.Get("/v2/ref/referrers/" + subject.str() +
                        "?artifactType=application%2Fvnd.example.sbom");
  REQUIRE(filtered);
  CHECK(filtered->get_header_value("OCI-Filters-Applied") == "artifactType");
  CHECK(json::parse(filtered->body)["manifests"].size() == 1);

  auto none = c.Get("/v2/ref/referrers/" + Digest::of("no subject").str());
  REQUIRE(none);
  CHECK(none->status == 200);
  CHECK(json::parse(none->body)["manifests"].empty());
  auto bad = c.Get("/v2/ref/referrers/sha256:bad");
  CHECK(bad->status == 400);
  CHECK(error_code(bad) == "DIGEST_INVALID");

  SECTION("deleting a referrer removes it from the list") {
    CHECK(c.Delete("/v2/ref/manifests/" + Digest::of(sbom).str())->status == 202);
    auto after = c.Get("/v2/ref/referrers/" + subject.str());
    CHECK(json::parse(after->body)["manifests"].size() == 1);
  }
}

TEST_CASE("tag list: bytewise order, n/last paging and Link", "[registry]") {
  TestRegistry reg;
  auto c = reg.client();
  const std::string body = prepared_manifest(c, "tags");
  for (const std::string tag : {"b", "a", "B", "a1", "_x", "1.0"}) {
    CHECK(put_manifest(c, "tags", tag, body)->status == 201);
  }
  const json all = tags_of(c, "/v2/tags/tags/list");
  CHECK(all["name"] == "tags");
  CHECK(all["tags"] == json({"1.0", "B", "_x", "a", "a1", "b"}));

  auto first = c.Get("/v2/tags/tags/list?n=2");
  REQUIRE(first);
  CHECK(json::parse(first->body)["tags"] == json({"1.0", "B"}));
  const std::string link = first->get_header_value("Link");
  CHECK(link == "</v2/tags/tags/list?n=2&last=B>; rel=\"next\"");
  auto second = c.Get("/v2/tags/tags/list?n=2&last=B");
  CHECK(json::parse(second->body)["tags"] == json({"_x", "a"}));
  auto last_page = c.Get("/v2/tags/tags/list?n=2&last=a");
  CHECK(json::parse(last_page->body)["tags"] == json({"a1", "b"}));
  CHECK(!last_page->has_header("Link"));
  auto exact = c.Get("/v2/tags/tags/list?n=6");
  CHECK(json::parse(exact->body)["tags"].size() == 6);
  CHECK(!exact->has_header("Link"));
  auto zero = c.Get("/v2/tags/tags/list?n=0");
  CHECK(json::parse(zero->body)["tags"].empty());
  CHECK(!zero->has_header("Link"));
  CHECK(json::parse(c.Get("/v2/tags/tags/list?last=a1")->body)["tags"] == json({"b"}));
  CHECK(c.Get("/v2/tags/tags/list?n=-1")->status == 400);
  CHECK(c.Get("/v2/tags/tags/list?n=x")->status == 400);

  auto unknown = c.Get("/v2/nothing/here/tags/list");
  CHECK(unknown->status == 404);
  CHECK(error_code(unknown) == "NAME_UNKNOWN");
}

TEST_CASE("DELETE of tags and manifests", "[registry]") {
  TestRegistry reg;
  auto c = reg.client();
  const std::string body = prepared_manifest(c, "rm");
  const auto digest = Digest::of(body);
  CHECK(put_manifest(c, "rm", "one", body)->status == 201);
  CHECK(put_manifest(c, "rm", "two", body)->status == 201);

  auto del_tag = c.Delete("/v2/rm/manifests/one");
  REQUIRE(del_tag);
  CHECK(del_tag->status == 202);
  CHECK(c.Get("/v2/rm/manifests/one")->status == 404);
  CHECK(c.Get("/v2/rm/manifests/" + digest.str())->status == 200);
  CHECK(c.Delete("/v2/rm/manifests/one")->status == 404);

  auto del = c.Delete("/v2/rm/manifests/" + digest.str());
  REQUIRE(del);
  CHECK(del->status == 202);
  auto gone = c.Get("/v2/rm/manifests/" + digest.str());
  CHECK(gone->status == 404);
  CHECK(error_code(gone) == "MANIFEST_UNKNOWN");
  CHECK(c.Get("/v2/rm/manifests/two")->status == 404);
  CHECK(tags_of(c, "/v2/rm/tags/list")["tags"].empty());
  CHECK(c.Delete("/v2/rm/manifests/" + digest.str())->status == 404);
}

TEST_CASE("catalog lists repositories with paging", "[registry]") {
  TestRegistry reg;
  auto c = reg.client();
  CHECK(json::parse(c.Get("/v2/_catalog")->body)["repositories"].empty());
  for (const std::string repo : {"b/x", "a", "c", "a/b"}) {
    push_blob(c, repo, "blob of " + repo);
  }
  CHECK(json::parse(c.Get("/v2/_catalog")->body)["repositories"] == json({"a", "a/b", "b/x", "c"}));
  auto page = c.Get("/v2/_catalog?n=2");
  CHECK(json::parse(page->body)["repositories"] == json({"a", "a/b"}));
  // httplib's client percent-decodes header values, so "a%2Fb" on the wire reads "a/b".
  const std::string link = page->get_header_value("Link");
  CHECK(link == "</v2/_catalog?n=2&last=a/b>; rel=\"next\"");
  const std::string next_url = link.substr(1, link.find('>') - 1);
  CHECK(json::parse(c.Get(next_url)->body)["repositories"] == json({"b/x", "c"}));
  auto next = c.Get("/v2/_catalog?n=2&last=a%2Fb");
  CHECK(json::parse(next->body)["repositories"] == json({"b/x", "c"}));
  CHECK(!next->has_header("Link"));
}
