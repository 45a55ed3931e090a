// Registry client authentication: WWW-Authenticate parsing, scope merging, the Bearer
// token flow against a fake token server (with scope checks and re-authentication), Basic
// auth, and Docker config credentials (auths, credHelpers, credsStore, login/logout).
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "client_test_support.hpp"
#include "oci/base64.hpp"
#include "registry/client/auth.hpp"
#include "registry/client/client.hpp"
#include "registry/client/credentials.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace strata;
using namespace strata::registry::client;
using registry::test::FakeServer;

TEST_CASE("WWW-Authenticate challenges are parsed", "[client][auth]") {
  const auto c = parse_www_authenticate(
      R"(Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push")");
  REQUIRE(c.size() == 1);
  CHECK(c[0].scheme == "bearer");
  CHECK(c[0].params.at("realm") == "https://auth.example/token");
  CHECK(c[0].params.at("service") == "registry.example");
  CHECK(c[0].params.at("scope") == "repository:a/b:pull,push");
  const auto two = parse_www_authenticate(R"(Basic realm="x \"y\"", Bearer realm=r)");
  REQUIRE(two.size() == 2);
  CHECK(two[0].scheme == "basic");
  CHECK(two[0].params.at("realm") == "x \"y\"");
  CHECK(two[1].params.at("realm") == "r");
}

TEST_CASE("scopes merge per repository", "[client][auth]") {
  CHECK(merge_scopes({"repository:a:push", "repository:b:pull", "repository:a:pull"}) ==
        std::vector<std::string>{"repository:a:pull,push", "repository:b:pull"});
  CHECK(merge_scopes({"registry:catalog:*"}) == std::vector<std::string>{"registry:catalog:*"});
}

namespace {

/// A registry that wants a Bearer token from its own /token endpoint, which wants Basic
/// user:secret and hands out a token naming the scopes it granted.
struct TokenRegistry {
  std::mutex mutex;
  std::vector<std::string> token_queries;
  std::atomic<int> revoke{0};  // tokens issued before this count are refused
  std::atomic<int> issued{0};
  std::unique_ptr<FakeServer> server;

  TokenRegistry() {
    server = std::make_unique<FakeServer>([this](httplib::Server& s) {
      s.Get("/token", [this](const httplib::Request& req, httplib::Response& res) {
        const auto auth = req.get_header_value("Authorization");
        if (auth != "Basic " + oci::base64_encode("user:secret")) {
          res.status = 401;
          return;
        }
        std::string scopes;
        for (auto it = req.params.lower_bound("scope"); it != req.params.upper_bound("scope");
             ++it) {
          scopes += it->second + " ";
        }
        {
          std::lock_guard lock(mutex);
          token_queries.push_back(req.get_param_value("service") + "|" + scopes);
        }
        const int n = issued++;
        res.set_content(nlohmann::json{{"token", "tok" + std::to_string(n) + "|" + scopes}}.dump(),
                        "application/json");
      });
      s.Get(R"(/v2/team/app/manifests/t)", [this](const httplib::Request& req,
                                                   httplib::Response& res) {
        const auto auth = req.get_header_value("Authorization");
        const bool ok = auth.starts_with("Bearer tok") &&
                        auth.find("repository:team/app:pull") != std::string::npos &&
                        std::stoi(auth.substr(10)) >= revoke.load();
        if (!ok) {
          res.status = 401;
          res.set_header("WWW-Authenticate",
                         "Bearer realm=\"http://" + server_host() +
                             "/token\",service=\"fake\",scope=\"repository:team/app:pull\"");
          return;
        }
        res.set_content(R"({"schemaVersion":2,"manifests":[]})",
                        std::string(oci::media::k_oci_index));
      });
    });
  }
  std::string server_host() const { return "127.0.0.1:" + std::to_string(m_port()); }
  int m_port() const { return server ? server->port() : 0; }
};

ClientOptions with_credential(std::optional<Credential> c) {
  ClientOptions o;
  o.retries = 1;
  o.backoff = std::chrono::milliseconds(5);
  o.credentials = [c](const std::string&) { return c; };
  return o;
}

}  // namespace

TEST_CASE("Bearer flow: one token for the merged scopes, re-auth on a 401", "[client][auth]") {
  TokenRegistry reg;
  RegistryClient client(reg.server->host(), with_credential(Credential{"user", "secret", ""}));
  client.add_scope("team/app", "pull");
  client.add_scope("team/base", "pull");
  REQUIRE(client.get_manifest("team/app", "t"));
  REQUIRE(client.get_manifest("team/app", "t"));
  CHECK(client.authenticator().tokens_fetched() == 1);
  {
    std::lock_guard lock(reg.mutex);
    REQUIRE(reg.token_queries.size() == 1);
    CHECK(reg.token_queries[0] == "fake|repository:team/app:pull repository:team/base:pull ");
  }
  // The registry stops accepting the token mid-operation: one re-authentication.
  reg.revoke = reg.issued.load();
  REQUIRE(client.get_manifest("team/app", "t"));
  CHECK(client.authenticator().tokens_fetched() == 2);
}

TEST_CASE("Bearer flow with wrong credentials is Unauthorized and says how to log in",
          "[client][auth]") {
  TokenRegistry reg;
  RegistryClient client(reg.server->host(), with_credential(Credential{"user", "wrong", ""}));
  client.add_scope("team/app", "pull");
  try {
    client.get_manifest("team/app", "t");
    FAIL("no error");
  } catch (const util::Error& e) {
    CHECK(e.kind() == util::ErrorKind::Unauthorized);
    CHECK(std::string(e.what()).find("strata login") != std::string::npos);
  }
}

TEST_CASE("Basic auth sends the credentials after the challenge", "[client][auth]") {
  FakeServer server([](httplib::Server& s) {
    s.Get("/v2/", [](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("Authorization") != "Basic " + oci::base64_encode("u:p")) {
        res.status = 401;
        res.set_header("WWW-Authenticate", "Basic realm=\"fake\"");
        return;
      }
      res.set_content("{}", "application/json");
    });
  });
  RegistryClient good(server.host(), with_credential(Credential{"u", "p", ""}));
  CHECK_NOTHROW(good.ping());
  RegistryClient anonymous(server.host(), with_credential(std::nullopt));
  CHECK_THROWS_AS(anonymous.ping(), util::Error);
}

TEST_CASE("Docker config: auths entries and docker.io keys", "[client][auth]") {
  util::TempDir dir;
  const auto config = dir.path() / "config.json";
  util::write_file_atomic(config, nlohmann::json{{"auths",
                                                  {{"reg.example:5000",
                                                    {{"auth", oci::base64_encode("alice:pw:x")}}},
                                                   {"https://index.docker.io/v1/",
                                                    {{"auth", oci::base64_encode("bob:hub")}}},
                                                   {"tok.example", {{"identitytoken", "refresh"}}}}}}
                                      .dump());
  const auto a = lookup_credential("reg.example:5000", config);
  REQUIRE(a);
  CHECK(a->username == "alice");
  CHECK(a->password == "pw:x");
  const auto hub = lookup_credential("docker.io", config);
  REQUIRE(hub);
  CHECK(hub->username == "bob");
  CHECK(lookup_credential("tok.example", config)->identity_token == "refresh");
  CHECK_FALSE(lookup_credential("other.example", config));
  CHECK_FALSE(lookup_credential("reg.example", dir.path() / "missing.json"));
  CHECK(credential_key("index.docker.io") == "https://index.docker.io/v1/");
  CHECK(registry_host("docker.io") == "registry-1.docker.io");

  util::write_file_atomic(config, "{not json");
  CHECK_THROWS_AS(lookup_credential("reg.example:5000", config), util::Error);
}

TEST_CASE("Docker config: credHelpers and credsStore run docker-credential-NAME",
          "[client][auth]") {
  util::TempDir dir;
  const auto bin = dir.path() / "bin";
  std::filesystem::create_directories(bin);
  // A helper that echoes the server URL it was asked about into the user name.
  util::write_file_atomic(bin / "docker-credential-fake",
                          "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread url\n"
                          "case \"$url\" in none*) echo 'credentials not found in native keychain'; exit 1;; esac\n"
                          "printf '{\"ServerURL\":\"%s\",\"Username\":\"via-%s\",\"Secret\":\"s3cret\"}' "
                          "\"$url\" \"$url\"\n",
                          0755);
  const std::string old_path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  ::setenv("PATH", (bin.string() + ":" + old_path).c_str(), 1);
  const auto config = dir.path() / "config.json";
  util::write_file_atomic(
      config, R"({"credHelpers":{"helped.example":"fake","none.example":"fake"},"credsStore":"fake",
                  "auths":{"plain.example":{"auth":")" + oci::base64_encode("p:q") + R"("}}})");
  const auto helped = lookup_credential("helped.example", config);
  REQUIRE(helped);
  CHECK(helped->username == "via-helped.example");
  CHECK(helped->password == "s3cret");
  CHECK_FALSE(lookup_credential("none.example", config));
  CHECK(lookup_credential("plain.example", config)->username == "p");  // auths before store
  CHECK(lookup_credential("docker.io", config)->username == "via-https://index.docker.io/v1/");
  util::write_file_atomic(config, R"({"credsStore":"missing-helper"})");
  try {
    lookup_credential("x.example", config);
    FAIL("no error");
  } catch (const util::Error& e) {
    CHECK(e.kind() == util::ErrorKind::Unauthorized);
    CHECK(std::string(e.what()).find("docker-credential-missing-helper") != std::string::npos);
  }
  ::setenv("PATH", old_path.c_str(), 1);
}

TEST_CASE("store_credential writes auths with mode 0600 and keeps other settings",
          "[client][auth]") {
  util::TempDir dir;
  const auto config = dir.path() / "docker" / "config.json";
  std::filesystem::create_directories(config.parent_path());
  util::write_file_atomic(config, R"({"psFormat":"table","auths":{"keep.example":{"auth":"eDp5"}}})");
  store_credential("new.example:5000", Credential{"me", "pw", ""}, config);
  struct stat st {};
  REQUIRE(::stat(config.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const auto j = nlohmann::json::parse(util::read_file(config));
  CHECK(j["psFormat"] == "table");
  CHECK(j["auths"]["keep.example"]["auth"] == "eDp5");
  CHECK(lookup_credential("new.example:5000", config)->password == "pw");
  CHECK(erase_credential("new.example:5000", config));
  CHECK_FALSE(erase_credential("new.example:5000", config));
  CHECK_FALSE(lookup_credential("new.example:5000", config));
  CHECK(lookup_credential("keep.example", config)->username == "x");
}
