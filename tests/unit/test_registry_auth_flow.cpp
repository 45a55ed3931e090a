// The registry's auth flow end to end over HTTP, as docker/podman/skopeo drive it:
// challenges, the token endpoint, scopes cut down by the ACL, expiry, Basic credentials,
// anonymous pull, DENIED, delete scope, catalog filtering and mounts.
#include "registry_auth_fixture.hpp"

using strata::oci::Digest;
using namespace strata::registry;
using namespace strata::registry::test;

namespace {

const std::string k_octet = "application/octet-stream";
const std::string k_manifest_type = "application/vnd.oci.image.manifest.v1+json";

/// Pushes a config blob and a manifest tagged `tag` to `repo` as admin (Basic).
void push_image(httplib::Client& c, const std::string& repo, const std::string& tag,
                const std::string& config = "{}") {
  const auto h = basic("admin", "admin-pw");
  auto blob = c.Post("/v2/" + repo + "/blobs/uploads/?digest=" + Digest::of(config).str(), h,
                     config, k_octet);
  REQUIRE(blob);
  REQUIRE(blob->status == 201);
  auto put = c.Put("/v2/" + repo + "/manifests/" + tag, h, image_manifest(config, {}),
                   k_manifest_type);
  REQUIRE(put);
  REQUIRE(put->status == 201);
}

std::string challenge_of(const httplib::Result& res) {
  REQUIRE(res);
  return res->get_header_value("WWW-Authenticate");
}

}  // namespace

TEST_CASE("auth on: unauthenticated requests get Bearer challenges", "[registry][auth]") {
  AuthRegistry reg;
  auto c = reg.client();
  const std::string realm = "realm=\"" + reg.base() + "/v2/token\",service=\"strata\"";

  auto root = c.Get("/v2/");
  REQUIRE(root);
  CHECK(root->status == 401);
  CHECK(error_code(root) == "UNAUTHORIZED");
  CHECK(challenge_of(root) == "Bearer " + realm);
  CHECK(root->get_header_value("Docker-Distribution-API-Version") == "registry/2.0");

  auto pull = c.Get("/v2/team/app/manifests/latest");
  REQUIRE(pull);
  CHECK(pull->status == 401);
  CHECK(challenge_of(pull) == "Bearer " + realm + ",scope=\"repository:team/app:pull\"");

  auto push = c.Post("/v2/team/app/blobs/uploads/", "", k_octet);
  REQUIRE(push);
  CHECK(push->status == 401);
  CHECK(challenge_of(push) == "Bearer " + realm + ",scope=\"repository:team/app:pull,push\"");

  auto del = c.Delete("/v2/team/app/manifests/latest");
  REQUIRE(del);
  CHECK(del->status == 401);
  CHECK(challenge_of(del) == "Bearer " + realm + ",scope=\"repository:team/app:delete\"");

  auto catalog = c.Get("/v2/_catalog");
  REQUIRE(catalog);
  CHECK(catalog->status == 401);
  CHECK(challenge_of(catalog) == "Bearer " + realm + ",scope=\"registry:catalog:*\"");

  // The realm follows the Host the client used.
  auto other_host = c.Get("/v2/", {{"Host", "registry.test:5000"}});
  REQUIRE(other_host);
  CHECK(challenge_of(other_host) ==
        "Bearer realm=\"http://registry.test:5000/v2/token\",service=\"strata\"");
}

TEST_CASE("login: /v2/ accepts Basic credentials and tokens, refuses bad passwords",
          "[registry][auth]") {
  AuthRegistry reg;
  auto c = reg.client();
  auto ok = c.Get("/v2/", basic("alice", "alice-pw"));
  REQUIRE(ok);
  CHECK(ok->status == 200);
  auto bad = c.Get("/v2/", basic("alice", "wrong"));
  REQUIRE(bad);
  CHECK(bad->status == 401);
  CHECK(error_code(bad) == "UNAUTHORIZED");
  CHECK(challenge_of(bad).rfind("Bearer realm=", 0) == 0);
  auto unknown = c.Get("/v2/", basic("mallory", "alice-pw"));
  REQUIRE(unknown);
  CHECK(unknown->status == 401);

  // docker login: a token without scopes, then /v2/ with it.
  const std::string token = token_for(c, "alice", "alice-pw", {});
  auto with_token = c.Get("/v2/", bearer(token));
  REQUIRE(with_token);
  CHECK(with_token->status == 200);

  auto bad_token_request = request_token(c, "alice", "wrong", {"repository:team/app:pull"});
  REQUIRE(bad_token_request);
  CHECK(bad_token_request->status == 401);
  CHECK(error_code(bad_token_request) == "UNAUTHORIZED");

  auto garbage = c.Get("/v2/", bearer("not.a.token"));
  REQUIRE(garbage);
  CHECK(garbage->status == 401);
  CHECK_THAT(challenge_of(garbage), Catch::Contains("error=\"invalid_token\""));
}

TEST_CASE("token endpoint grants the intersection of requested scopes and the ACL",
          "[registry][auth]") {
  AuthRegistry reg;
  auto c = reg.client();
  auto res = request_token(c, "alice", "alice-pw",
                           {"repository:team/app:pull,push", "repository:other/x:pull,push"});
  REQUIRE(res);
  REQUIRE(res->status == 200);
  const auto j = nlohmann::json::parse(res->body);
  CHECK(j.at("expires_in") == 300);
  CHECK(j.at("issued_at") == "2023-11-14T22:13:20Z");  // the fixture's clock: 1700000000
  const std::string token = j.at("token");

  // Granted: push to team/app.
  const std::string config = "{\"a\":1}";
  auto blob = c.Post("/v2/team/app/blobs/uploads/?digest=" + Digest::of(config).str(),
                     bearer(token), config, k_octet);
  REQUIRE(blob);
  CHECK(blob->status == 201);
  auto pull = c.Get("/v2/team/app/blobs/" + Digest::of(config).str(), bearer(token));
  REQUIRE(pull);
  CHECK(pull->status == 200);
  CHECK(pull->body == config);

  // Not granted (ACL): other/x; not requested: delete on team/app.
  auto other = c.Post("/v2/other/x/blobs/uploads/", bearer(token), "", k_octet);
  REQUIRE(other);
  CHECK(other->status == 401);
  CHECK_THAT(challenge_of(other), Catch::Contains("scope=\"repository:other/x:pull,push\"") &&
                                      Catch::Contains("error=\"insufficient_scope\""));
  auto del = c.Delete("/v2/team/app/blobs/" + Digest::of(config).str(), bearer(token));
  REQUIRE(del);
  CHECK(del->status == 401);
  CHECK_THAT(challenge_of(del), Catch::Contains("scope=\"repository:team/app:delete\""));

  // Space-separated scopes in one parameter work too (docker sends them this way).
  const std::string both = token_for(c, "alice", "alice-pw",
                                     {"repository:team/app:pull repository:team/app:delete"});
  auto del2 = c.Delete("/v2/team/app/blobs/" + Digest::of(config).str(), bearer(both));
  REQUIRE(del2);
  CHECK(del2->status == 202);

  auto bad_scope = request_token(c, "alice", "alice-pw", {"repository:team/app"});
  REQUIRE(bad_scope);
  CHECK(bad_scope->status == 400);
  auto bad_service = c.Get("/v2/token?service=elsewhere", basic("alice", "alice-pw"));
  REQUIRE(bad_service);
  CHECK(bad_service->status == 400);
}

TEST_CASE("tokens expire and survive a restart", "[registry][auth]") {
  AuthRegistry reg;
  auto c = reg.client();
  push_image(c, "team/app", "v1");
  const std::string token = token_for(c, "bob", "bob-pw", {"repository:team/app:pull"});
  auto ok = c.Get("/v2/team/app/manifests/v1", bearer(token));
  REQUIRE(ok);
  CHECK(ok->status == 200);

  reg.reg().restart();
  auto c2 = reg.reg().client();
  auto after_restart = c2.Get("/v2/team/app/manifests/v1", bearer(token));
  REQUIRE(after_restart);
  CHECK(after_restart->status == 200);

  reg.reg().advance(301);
  auto expired = c2.Get("/v2/team/app/manifests/v1", bearer(token));
  REQUIRE(expired);
  CHECK(expired->status == 401);
  CHECK_THAT(challenge_of(expired), Catch::Contains("error=\"invalid_token\""));
}

TEST_CASE("authenticated but not allowed: Basic gets 403 DENIED, a token never gets push",
          "[registry][auth]") {
  AuthRegistry reg;
  auto c = reg.client();
  push_image(c, "team/app", "v1");
  // bob may pull team/* ...
  auto pull = c.Get("/v2/team/app/manifests/v1", basic("bob", "bob-pw"));
  REQUIRE(pull);
  CHECK(pull->status == 200);
  // ... but not push there.
  auto push = c.Post("/v2/team/app/blobs/uploads/", basic("bob", "bob-pw"), "", k_octet);
  REQUIRE(push);
  CHECK(push->status == 403);
  CHECK(error_code(push) == "DENIED");
  auto del = c.Delete("/v2/team/app/manifests/v1", basic("bob", "bob-pw"));
  REQUIRE(del);
  CHECK(del->status == 403);

  const std::string token = token_for(c, "bob", "bob-pw", {"repository:team/app:pull,push"});
  auto push2 = c.Put("/v2/team/app/manifests/v2", bearer(token), image_manifest("{}", {}),
                     k_manifest_type);
  REQUIRE(push2);
  CHECK(push2->status == 401);
  auto tags = c.Get("/v2/team/app/tags/list", bearer(token));
  REQUIRE(tags);
  CHECK(tags->status == 200);
  CHECK(tags->body == R"({"name":"team/app","tags":["v1"]})");

  // Mount from a repository bob cannot read is refused; into his own from team/* works.
  const std::string cfg = Digest::of("{}").str();
  auto mount = c.Post("/v2/bob/x/blobs/uploads/?mount=" + cfg + "&from=team/app",
                      basic("bob", "bob-pw"), "", k_octet);
  REQUIRE(mount);
  CHECK(mount->status == 201);
  push_image(c, "secret/x", "v1", "{\"secret\":1}");
  const std::string secret = Digest::of("{\"secret\":1}").str();
  auto mount2 = c.Post("/v2/bob/x/blobs/uploads/?mount=" + secret + "&from=secret/x",
                       basic("bob", "bob-pw"), "", k_octet);
  REQUIRE(mount2);
  CHECK(mount2->status == 403);
}

TEST_CASE("mount without from only considers repositories the caller may read",
          "[registry][auth]") {
  AuthRegistry reg;
  auto c = reg.client();
  push_image(c, "secret/x", "v1", "{\"secret\":1}");
  const std::string secret = Digest::of("{\"secret\":1}").str();
  auto bob = c.Post("/v2/bob/x/blobs/uploads/?mount=" + secret, basic("bob", "bob-pw"), "",
                    k_octet);
  REQUIRE(bob);
  CHECK(bob->status == 202);  // a normal upload session: the blob stays hidden
  auto leak = c.Get("/v2/bob/x/blobs/" + secret, basic("bob", "bob-pw"));
  REQUIRE(leak);
  CHECK(leak->status == 404);

  push_image(c, "team/app", "v1", "{\"team\":1}");
  const std::string team = Digest::of("{\"team\":1}").str();
  auto bob2 = c.Post("/v2/bob/x/blobs/uploads/?mount=" + team, basic("bob", "bob-pw"), "",
                     k_octet);
  REQUIRE(bob2);
  CHECK(bob2->status == 201);
  auto admin = c.Post("/v2/admin/y/blobs/uploads/?mount=" + secret, basic("admin", "admin-pw"),
                      "", k_octet);
  REQUIRE(admin);
  CHECK(admin->status == 201);
}

TEST_CASE("catalog lists only repositories the caller may pull", "[registry][auth]") {
  AuthRegistry reg;
  auto c = reg.client();
  push_image(c, "team/app", "v1");
  push_image(c, "team/web", "v1");
  push_image(c, "secret/x", "v1");

  auto admin = c.Get("/v2/_catalog", basic("admin", "admin-pw"));
  REQUIRE(admin);
  CHECK(admin->body == R"({"repositories":["secret/x","team/app","team/web"]})");
  auto bob = c.Get("/v2/_catalog", basic("bob", "bob-pw"));
  REQUIRE(bob);
  CHECK(bob->body == R"({"repositories":["team/app","team/web"]})");
  auto page = c.Get("/v2/_catalog?n=1", basic("bob", "bob-pw"));
  REQUIRE(page);
  CHECK(page->body == R"({"repositories":["team/app"]})");
  // httplib's client percent-decodes header values ("team%2Fapp" on the wire).
  CHECK(page->get_header_value("Link") == "</v2/_catalog?n=1&last=team/app>; rel=\"next\"");

  // With a token, the catalog scope is needed.
  const std::string no_scope = token_for(c, "bob", "bob-pw", {"repository:team/app:pull"});
  auto denied = c.Get("/v2/_catalog", bearer(no_scope));
  REQUIRE(denied);
  CHECK(denied->status == 401);
  const std::string scoped = token_for(c, "bob", "bob-pw", {"registry:catalog:*"});
  auto listed = c.Get("/v2/_catalog", bearer(scoped));
  REQUIRE(listed);
  CHECK(listed->status == 200);
  CHECK(listed->body == R"({"repositories":["team/app","team/web"]})");
}

TEST_CASE("anonymous pull: off by default, on when configured, never push",
          "[registry][auth]") {
  SECTION("off") {
    AuthRegistry reg(false);
    auto c = reg.client();
    push_image(c, "team/app", "v1");
    auto get = c.Get("/v2/team/app/manifests/v1");
    REQUIRE(get);
    CHECK(get->status == 401);
    // An anonymous token grants nothing.
    const std::string token = token_for(c, "", "", {"repository:team/app:pull"});
    auto with_token = c.Get("/v2/team/app/manifests/v1", bearer(token));
    REQUIRE(with_token);
    CHECK(with_token->status == 401);
  }
  SECTION("on") {
    AuthRegistry reg(true);
    auto c = reg.client();
    push_image(c, "team/app", "v1");
    auto get = c.Get("/v2/team/app/manifests/v1");
    REQUIRE(get);
    CHECK(get->status == 200);
    const std::string token = token_for(c, "", "", {"repository:team/app:pull,push"});
    auto with_token = c.Get("/v2/team/app/manifests/v1", bearer(token));
    REQUIRE(with_token);
    CHECK(with_token->status == 200);
    auto push = c.Post("/v2/team/app/blobs/uploads/", "", k_octet);
    REQUIRE(push);
    CHECK(push->status == 401);
    auto push_token = c.Post("/v2/team/app/blobs/uploads/", bearer(token), "", k_octet);
    REQUIRE(push_token);
    CHECK(push_token->status == 401);
    auto root = c.Get("/v2/");  // clients still learn the realm
    REQUIRE(root);
    CHECK(root->status == 401);
    auto catalog = c.Get("/v2/_catalog");
    REQUIRE(catalog);
    CHECK(catalog->status == 200);
  }
}

TEST_CASE("auth off: no token endpoint, everything open as before", "[registry][auth]") {
  TestRegistry reg;
  auto c = reg.client();
  auto root = c.Get("/v2/");
  REQUIRE(root);
  CHECK(root->status == 200);
  auto token = c.Get("/v2/token");
  REQUIRE(token);
  CHECK(token->status == 404);
}

TEST_CASE("a server with a bad htpasswd file does not start", "[registry][auth]") {
  strata::util::TempDir dir("strata-auth-bad");
  strata::util::write_file_atomic(dir.path() / "users", "alice:$apr1$x$yyyyyyyyyyyyyyyyyyyyyy\n");
  ServerOptions o;
  o.root = dir.path() / "root";
  o.auth.htpasswd = dir.path() / "users";
  CHECK_THROWS_WITH([&] { Server server(o); }(),
                    Catch::Contains((dir.path() / "users").string() + ":1"));
}
