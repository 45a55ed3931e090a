// The registry client against strata's own registry server (in-process) and against tiny
// scripted servers: push/pull round trips, skipping existing blobs, chunked uploads,
// cross-repository mounts, tag paging, digest verification and Range resume.
#include <atomic>
#include <filesystem>

#include "client_test_support.hpp"
#include "registry/client/client.hpp"
#include "registry/client/transfer.hpp"
#include "registry_fixture.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace strata;
using registry::client::ClientOptions;
using registry::client::RegistryClient;
using registry::client::StoreBlobs;
using registry::test::FakeServer;
using registry::test::store_image;
using registry::test::TestRegistry;

namespace {

std::string host_of(TestRegistry& reg) { return "127.0.0.1:" + std::to_string(reg.server().port()); }

ClientOptions fast_options() {
  ClientOptions o;
  o.retries = 2;
  o.backoff = std::chrono::milliseconds(10);
  o.credentials = [](const std::string&) { return std::optional<registry::client::Credential>(); };
  return o;
}

registry::client::PushResult push_tag(RegistryClient& client, cache::Store& store,
                                      const std::string& tag, const std::string& repo,
                                      const std::string& remote_tag,
                                      registry::client::PushOptions options = {}) {
  const auto rec = store.find_tag(tag);
  REQUIRE(rec);
  StoreBlobs blobs(store);
  return registry::client::push_image(client, repo, remote_tag, store.read_blob(rec->manifest),
                                      rec->media_type, blobs, options);
}

}  // namespace

TEST_CASE("push uploads every blob once, a second push skips them all", "[client]") {
  TestRegistry reg;
  util::TempDir dir;
  cache::Store store(dir.path() / "store", {{}, false});
  const auto img = store_image(store, "app:1", {"layer one", std::string(5000, 'x')});
  RegistryClient client(host_of(reg), fast_options());

  const auto first = push_tag(client, store, "app:1", "team/app", "v1");
  CHECK(first.digest == img.manifest);
  CHECK(first.uploaded == 3);
  CHECK(first.skipped == 0);
  const auto before = client.stats().requests;
  const auto second = push_tag(client, store, "app:1", "team/app", "v2");
  CHECK(second.uploaded == 0);
  CHECK(second.skipped == 3);
  // 3 HEADs and one manifest PUT: nothing was uploaded again.
  CHECK(client.stats().requests - before == 4);

  auto c = reg.client();
  auto res = c.Get("/v2/team/app/manifests/v2");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == img.manifest_json);
  CHECK(res->get_header_value("Content-Type") == oci::media::k_oci_manifest);
}

TEST_CASE("pull into an empty store verifies, stores and tags the image", "[client]") {
  TestRegistry reg;
  util::TempDir dir;
  cache::Store src(dir.path() / "src", {{}, false});
  const auto img = store_image(src, "app:1", {"alpha", "beta"});
  RegistryClient client(host_of(reg), fast_options());
  push_tag(client, src, "app:1", "team/app", "v1");

  cache::Store dst(dir.path() / "dst", {{}, false});
  const auto ref = oci::Reference::parse(host_of(reg) + "/team/app:v1");
  registry::client::PullOptions po;
  const auto r = registry::client::pull_image(client, ref, dst, po);
  CHECK(r.digest == img.manifest);
  CHECK(r.manifest == img.manifest);
  CHECK(r.downloaded == 3);
  CHECK(r.tag == host_of(reg) + "/team/app:v1");
  const auto tag = dst.find_tag(r.tag);
  REQUIRE(tag);
  CHECK(tag->manifest == img.manifest);
  for (const auto& b : img.blobs) {
    CHECK(dst.read_blob(b) == src.read_blob(b));
  }
  // A second pull downloads nothing.
  const auto again = registry::client::pull_image(client, ref, dst, po);
  CHECK(again.downloaded == 0);
  CHECK(again.reused == 3);
  // Nothing is left behind in the store's tmp.
  CHECK(std::filesystem::is_empty(dst.root() / "tmp"));
}

TEST_CASE("large blobs go up in chunks and come back intact", "[client]") {
  TestRegistry reg;
  util::TempDir dir;
  cache::Store store(dir.path() / "store", {{}, false});
  std::string big;
  for (int i = 0; i < 20000; ++i) {
    big += std::to_string(i * 7919 % 10007);
  }
  const auto img = store_image(store, "big:1", {big});
  auto options = fast_options();
  options.monolithic_max = 1000;
  options.chunk_size = 4096;
  RegistryClient client(host_of(reg), options);
  push_tag(client, store, "big:1", "team/big", "v1");
  CHECK(client.stats().requests > big.size() / 4096);  // one PATCH per chunk

  util::StringSink sink;
  RegistryClient reader(host_of(reg), fast_options());
  reader.fetch_blob("team/big", img.blobs[1], sink);
  CHECK(sink.str() == big);
}

TEST_CASE("push mounts blobs from another repository of the same registry", "[client]") {
  TestRegistry reg;
  util::TempDir dir;
  cache::Store store(dir.path() / "store", {{}, false});
  store_image(store, "app:1", {"shared layer"});
  RegistryClient client(host_of(reg), fast_options());
  push_tag(client, store, "app:1", "team/base", "v1");
  registry::client::PushOptions po;
  po.mount_from = {"team/base"};
  const auto r = push_tag(client, store, "app:1", "team/derived", "v1", po);
  CHECK(r.mounted == 2);
  CHECK(r.uploaded == 0);
}

TEST_CASE("tags are listed across pages", "[client]") {
  TestRegistry reg;
  util::TempDir dir;
  cache::Store store(dir.path() / "store", {{}, false});
  store_image(store, "app:1", {"l"});
  RegistryClient client(host_of(reg), fast_options());
  for (const char* t : {"a", "b", "c", "d", "e"}) {
    push_tag(client, store, "app:1", "team/app", t);
  }
  const auto tags = client.list_tags("team/app", 2);
  CHECK(tags == std::vector<std::string>{"a", "b", "c", "d", "e"});
  CHECK_THROWS_AS(client.list_tags("team/none", 2), util::Error);
}

TEST_CASE("pull of a missing tag is NotFound", "[client]") {
  TestRegistry reg;
  util::TempDir dir;
  cache::Store store(dir.path() / "store", {{}, false});
  RegistryClient client(host_of(reg), fast_options());
  const auto ref = oci::Reference::parse(host_of(reg) + "/team/none:v1");
  try {
    registry::client::pull_image(client, ref, store, {});
    FAIL("pull succeeded");
  } catch (const util::Error& e) {
    CHECK(e.kind() == util::ErrorKind::NotFound);
  }
}

namespace {

/// A registry of one image whose layer is served from `layer_body` (possibly tampered).
struct OneImage {
  std::string config = R"({"architecture":"amd64","os":"linux"})";
  std::string layer;
  std::string manifest;
  oci::Digest layer_digest;
  explicit OneImage(std::string l) : layer(std::move(l)) {
    layer_digest = oci::Digest::of(layer);
    nlohmann::json m = {{"schemaVersion", 2},
                        {"mediaType", std::string(oci::media::k_oci_manifest)},
                        {"config",
                         {{"mediaType", std::string(oci::media::k_oci_config)},
                          {"digest", oci::Digest::of(config).str()},
                          {"size", config.size()}}},
                        {"layers",
                         {{{"mediaType", std::string(oci::media::k_oci_layer_gzip)},
                           {"digest", layer_digest.str()},
                           {"size", layer.size()}}}}};
    manifest = m.dump();
  }
  void serve_manifest_and_config(httplib::Server& s) const {
    s.Get("/v2/r/manifests/t", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(manifest, std::string(oci::media::k_oci_manifest));
    });
    s.Get("/v2/r/blobs/" + oci::Digest::of(config).str(),
          [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(config, "application/octet-stream");
          });
  }
};

}  // namespace

TEST_CASE("a tampered blob is refused and nothing is stored", "[client]") {
  const OneImage img("the real layer bytes");
  FakeServer server([&img](httplib::Server& s) {
    img.serve_manifest_and_config(s);
    s.Get("/v2/r/blobs/" + img.layer_digest.str(), [](const httplib::Request&, httplib::Response& res) {
      res.set_content("the evil layer bytes", "application/octet-stream");  // same length
    });
  });
  util::TempDir dir;
  cache::Store store(dir.path() / "store", {{}, false});
  RegistryClient client(server.host(), fast_options());
  try {
    registry::client::pull_image(client, oci::Reference::parse(server.host() + "/r:t"), store, {});
    FAIL("pull succeeded");
  } catch (const util::Error& e) {
    CHECK(e.kind() == util::ErrorKind::Corruption);
    CHECK(std::string(e.what()).find(img.layer_digest.str()) != std::string::npos);
  }
  CHECK_FALSE(store.has_blob(img.layer_digest));
  CHECK_FALSE(store.find_tag(server.host() + "/r:t"));
  CHECK(std::filesystem::is_empty(store.root() / "tmp"));
}

TEST_CASE("an interrupted download resumes with a Range request", "[client]") {
  std::string layer;
  for (int i = 0; i < 50000; ++i) {
    layer += static_cast<char>('a' + i % 26);
  }
  const OneImage img(layer);
  std::atomic<int> gets{0};
  std::atomic<int> ranged{0};
  FakeServer server([&](httplib::Server& s) {
    img.serve_manifest_and_config(s);
    s.Get("/v2/r/blobs/" + img.layer_digest.str(),
          [&](const httplib::Request& req, httplib::Response& res) {
            if (gets++ == 0) {
              // Promise the whole blob, send 20000 bytes, then drop the connection.
              res.set_content_provider(
                  img.layer.size(), "application/octet-stream",
                  [&img](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                    if (offset >= 20000) {
                      return false;
                    }
                    sink.write(img.layer.data(), 20000);
                    return true;
                  });
              return;
            }
            if (req.has_header("Range")) {
              ++ranged;
              CHECK(req.get_header_value("Range") == "bytes=20000-");
            }
            res.set_content(img.layer, "application/octet-stream");
          });
  });
  util::TempDir dir;
  cache::Store store(dir.path() / "store", {{}, false});
  RegistryClient client(server.host(), fast_options());
  const auto r =
      registry::client::pull_image(client, oci::Reference::parse(server.host() + "/r:t"), store, {});
  CHECK(r.downloaded == 2);
  CHECK(ranged == 1);
  CHECK(store.read_blob(img.layer_digest) == layer);
}

TEST_CASE("pull --unpack refuses a non-empty directory", "[client]") {
  TestRegistry reg;
  util::TempDir dir;
  cache::Store store(dir.path() / "store", {{}, false});
  RegistryClient client(host_of(reg), fast_options());
  std::filesystem::create_directories(dir.path() / "root");
  util::write_file_atomic(dir.path() / "root" / "file", "x");
  registry::client::PullOptions po;
  po.unpack_dir = dir.path() / "root";
  try {
    registry::client::pull_image(client, oci::Reference::parse(host_of(reg) + "/a/b:c"), store, po);
    FAIL("pull succeeded");
  } catch (const util::Error& e) {
    CHECK(e.kind() == util::ErrorKind::InvalidInput);
    CHECK(std::string(e.what()).find("--force") != std::string::npos);
  }
}

TEST_CASE("plain http only for loopback and listed registries", "[client]") {
  using registry::client::use_plain_http;
  CHECK(use_plain_http("127.0.0.1:5000"));
  CHECK(use_plain_http("localhost"));
  CHECK(use_plain_http("[::1]:5000"));
  CHECK_FALSE(use_plain_http("registry.example.org"));
  ::setenv("STRATA_INSECURE_REGISTRIES", "a.example:5000,b.example", 1);
  CHECK(use_plain_http("a.example:5000"));
  CHECK(use_plain_http("b.example:443"));
  CHECK_FALSE(use_plain_http("c.example"));
  ::unsetenv("STRATA_INSECURE_REGISTRIES");
  CHECK(RegistryClient("registry.example.org").base_url() == "https://registry.example.org");
  CHECK(RegistryClient("docker.io").base_url() == "https://registry-1.docker.io");
}
