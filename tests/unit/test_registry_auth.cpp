// Unit tests of the registry's auth building blocks: htpasswd (bcrypt via libcrypt), ACL
// patterns, scopes, tokens and the config file.
#include <sys/stat.h>

#include "registry_auth_fixture.hpp"
#include "util/error.hpp"

using namespace strata::registry;
using strata::registry::test::make_bcrypt;
using strata::util::Error;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST_CASE("htpasswd: bcrypt hashes verify, wrong passwords and unknown users do not",
          "[registry][auth]") {
  const std::string hash = make_bcrypt("s3cret");
  const auto users = Htpasswd::parse("\n# comment\nalice:" + hash + "\r\n", "users");
  CHECK(users.size() == 1);
  CHECK(users.verify("alice", "s3cret"));
  CHECK_FALSE(users.verify("alice", "s3cre"));
  CHECK_FALSE(users.verify("alice", "s3cret "));
  CHECK_FALSE(users.verify("bob", "s3cret"));
  CHECK_FALSE(users.verify("alice", std::string("s3cret\0x", 8)));

  // htpasswd -B writes $2y$; libcrypt treats it like $2b$.
  std::string y = hash;
  y[2] = 'y';
  CHECK(Htpasswd::parse("carol:" + y + "\n", "users").verify("carol", "s3cret"));
}

TEST_CASE("htpasswd: non-bcrypt hashes and malformed lines are refused with file:line",
          "[registry][auth]") {
  const std::string good = "alice:" + make_bcrypt("x") + "\n";
  CHECK_THAT(error_of([&] { Htpasswd::parse(good + "bob:$apr1$abc$defghijklmnop\n", "u.txt"); }),
             Catch::Contains("u.txt:2") && Catch::Contains("not bcrypt") &&
                 Catch::Contains("htpasswd -B"));
  CHECK_THAT(error_of([&] { Htpasswd::parse("{SHA}abc\n", "u.txt"); }),
             Catch::Contains("u.txt:1"));
  CHECK_THAT(error_of([&] { Htpasswd::parse(good + good, "u.txt"); }),
             Catch::Contains("u.txt:2") && Catch::Contains("twice"));
  CHECK_THAT(error_of([&] { Htpasswd::load("/nonexistent/users.htpasswd"); }),
             Catch::Contains("/nonexistent/users.htpasswd"));
}

TEST_CASE("repository patterns and ACL rules", "[registry][auth]") {
  CHECK(repository_pattern_matches("*", "a/b/c"));
  CHECK(repository_pattern_matches("team/*", "team/app"));
  CHECK(repository_pattern_matches("team/*", "team/a/b"));
  CHECK_FALSE(repository_pattern_matches("team/*", "team"));
  CHECK_FALSE(repository_pattern_matches("team/*", "teams/app"));
  CHECK(repository_pattern_matches("*/base", "ml/base"));
  CHECK(repository_pattern_matches("img?", "img1"));
  CHECK_FALSE(repository_pattern_matches("img?", "img12"));

  const Acl acl(strata::registry::test::test_acl(), false);
  CHECK(acl.allowed("admin", "any/thing") == k_action_all);
  CHECK(acl.allowed("alice", "team/app") == k_action_all);
  CHECK(acl.allowed("alice", "other/app") == 0);
  CHECK(acl.allowed("bob", "team/app") == k_action_pull);
  CHECK(acl.allowed("bob", "bob/x") == (k_action_pull | k_action_push));
  CHECK(acl.allowed("", "team/app") == 0);
  CHECK_FALSE(acl.anonymous_has_any());

  const Acl open({}, true);
  CHECK(open.allowed("anyone", "x") == k_action_all);
  CHECK(open.allowed("", "x") == k_action_pull);
  CHECK(open.anonymous_has_any());
  // "*" means authenticated users only.
  const Acl star({AclRule{{"*"}, {"*"}, k_action_pull}}, false);
  CHECK(star.allowed("", "x") == 0);
}

TEST_CASE("scopes parse as distribution writes them", "[registry][auth]") {
  auto s = parse_scope("repository:team/app:pull,push");
  REQUIRE(s);
  CHECK(s->name == "team/app");
  CHECK(s->actions == (k_action_pull | k_action_push));
  CHECK(s->str() == "repository:team/app:pull,push");
  CHECK(parse_scope("repository:a:*")->actions == k_action_all);
  CHECK(parse_scope("registry:catalog:*")->type == "registry");
  CHECK_FALSE(parse_scope("repository:a"));
  CHECK_FALSE(parse_scope("user:a:pull"));
  CHECK_FALSE(parse_scope("registry:other:*"));
}

TEST_CASE("tokens: signed, expiring, bound to the service and the key", "[registry][auth]") {
  strata::util::TempDir dir("strata-token");
  const auto signer = TokenSigner::from_key_file(dir.path() / "token.key");
  struct stat st {};
  REQUIRE(::stat((dir.path() / "token.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  TokenClaims claims;
  claims.subject = "alice";
  claims.audience = "strata";
  claims.issued_at = 1000;
  claims.expires_at = 1300;
  claims.access = {Scope{"repository", "team/app", k_action_pull | k_action_push}};
  const std::string token = signer.sign(claims);

  const auto back = signer.verify(token, 1100, "strata");
  REQUIRE(back);
  CHECK(back->subject == "alice");
  CHECK(back->grants("team/app", k_action_push));
  CHECK_FALSE(back->grants("team/app", k_action_delete));
  CHECK_FALSE(back->grants("team/other", k_action_pull));

  CHECK_FALSE(signer.verify(token, 1300, "strata"));   // expired
  CHECK_FALSE(signer.verify(token, 1100, "other"));    // another service
  std::string tampered = token;
  tampered[tampered.find('.') + 5] ^= 1;
  CHECK_FALSE(signer.verify(tampered, 1100, "strata"));
  CHECK_FALSE(signer.verify("abc", 1100, "strata"));

  // The same key file gives the same key; a new key rejects old tokens.
  CHECK(TokenSigner::from_key_file(dir.path() / "token.key").verify(token, 1100, "strata"));
  CHECK_FALSE(TokenSigner::from_key_file(dir.path() / "other.key").verify(token, 1100, "strata"));
}

TEST_CASE("base64 round trips in both alphabets", "[registry][auth]") {
  for (const std::string s : {"", "a", "ab", "abc", "abcd", "\xff\xfe\xfd\x00z"}) {
    CHECK(base64_decode(base64_encode(s)) == s);
    CHECK(base64_decode(base64_encode(s, true), true) == s);
  }
  CHECK(base64_encode("alice:pw") == "YWxpY2U6cHc=");
  CHECK_FALSE(base64_decode("YWxpY2U6cHc"));  // standard form needs padding
  CHECK_FALSE(base64_decode("YW*p"));
}

TEST_CASE("registry config file: full example, relative paths, located errors",
          "[registry][auth]") {
  const std::string text = R"([auth]
htpasswd = "users.htpasswd"
service = "my-registry"
token_ttl = "10m"
anonymous_pull = true

[[acl]]
users = ["alice", "*"]
repositories = ["team/*"]
actions = ["pull", "push"]

[tls]
cert = "/etc/strata/cert.pem"
key = "key.pem"
)";
  const auto config = parse_registry_config(text, "/etc/reg/registry.toml", "/etc/reg");
  CHECK(config.auth.htpasswd == "/etc/reg/users.htpasswd");
  CHECK(config.auth.service == "my-registry");
  CHECK(config.auth.token_ttl == std::chrono::minutes(10));
  CHECK(config.auth.anonymous_pull);
  REQUIRE(config.auth.acl.size() == 1);
  CHECK(config.auth.acl[0].users == std::vector<std::string>{"alice", "*"});
  CHECK(config.auth.acl[0].actions == (k_action_pull | k_action_push));
  CHECK(config.tls.cert == "/etc/strata/cert.pem");
  CHECK(config.tls.key == "/etc/reg/key.pem");

  const auto err = [](const std::string& t) {
    return error_of([&] { parse_registry_config(t, "r.toml", "/x"); });
  };
  CHECK_THAT(err("[auth]\nhtpasswd = \"u\"\nanonymous = true\n"),
             Catch::Contains("r.toml:3:1") && Catch::Contains("unknown key 'anonymous'"));
  CHECK_THAT(err("[auth]\nhtpasswd = \"u\"\n[[acl]]\nusers = [\"a\"]\nrepositories = [\"*\"]\n"
                 "actions = [\"pull\", \"write\"]\n"),
             Catch::Contains("r.toml:6:") && Catch::Contains("unknown action 'write'"));
  CHECK_THAT(err("[auth]\nhtpasswd = \"u\"\ntoken_ttl = \"5 minutes\"\n"),
             Catch::Contains("r.toml:3:"));
  CHECK_THAT(err("[auth]\nhtpasswd = 5\n"), Catch::Contains("r.toml:2:") &&
                                                Catch::Contains("must be a string"));
  CHECK_THAT(err("[tls]\ncert = \"c.pem\"\n"), Catch::Contains("needs both"));
  CHECK_THAT(err("[auth]\nanonymous_pull = true\n"), Catch::Contains("htpasswd"));
  CHECK_THAT(err("[auth\n"), Catch::Contains("r.toml:1:"));
}
