// Helpers for the registry auth tests: bcrypt hashes made with libcrypt, an htpasswd file,
// a registry with auth on, and token requests through httplib.
#pragma once

#include <crypt.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "registry/server/auth.hpp"
#include "registry_fixture.hpp"
#include "util/fs.hpp"

namespace strata::registry::test {

/// A bcrypt hash ($2b$, cost 5: fast) of `password`, made the way `htpasswd -B` does.
inline std::string make_bcrypt(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  REQUIRE(crypt_gensalt_rn("$2b$", 5, nullptr, 0, salt, sizeof salt) != nullptr);
  auto data = std::make_unique<crypt_data>();
  const char* hash = crypt_r(password.c_str(), salt, data.get());
  REQUIRE(hash != nullptr);
  REQUIRE(std::string(hash).rfind("$2b$05$", 0) == 0);
  return hash;
}

/// The users of the auth tests: admin, alice and bob, password "<name>-pw".
inline std::string test_htpasswd() {
  return "# test users\nadmin:" + make_bcrypt("admin-pw") + "\nalice:" + make_bcrypt("alice-pw") +
         "\nbob:" + make_bcrypt("bob-pw") + "\n";
}

/// ACL: admin may do everything; alice everything in team/*; bob pulls team/* and pushes bob/*.
inline std::vector<AclRule> test_acl() {
  return {AclRule{{"admin"}, {"*"}, k_action_all},
          AclRule{{"alice"}, {"team/*"}, k_action_all},
          AclRule{{"bob"}, {"team/*"}, k_action_pull},
          AclRule{{"bob"}, {"bob/*"}, k_action_pull | k_action_push}};
}

/// A registry with auth on (htpasswd + ACL above), token_ttl 300s.
class AuthRegistry {
 public:
  explicit AuthRegistry(bool anonymous_pull = false)
      : m_reg(options(anonymous_pull)) {}

  TestRegistry& reg() { return m_reg; }
  httplib::Client client() { return m_reg.client(); }
  [[nodiscard]] std::string base() const { return "http://127.0.0.1:" + std::to_string(port()); }
  [[nodiscard]] int port() const { return m_port; }

 private:
  ServerOptions options(bool anonymous_pull) {
    util::write_file_atomic(m_dir.path() / "users.htpasswd", test_htpasswd());
    ServerOptions o;
    o.auth.htpasswd = m_dir.path() / "users.htpasswd";
    o.auth.acl = test_acl();
    o.auth.anonymous_pull = anonymous_pull;
    return o;
  }
  util::TempDir m_dir{"strata-auth-test"};
  TestRegistry m_reg;
  int m_port = m_reg.server().port();
};

/// Asks the token endpoint for `scopes` with Basic credentials (none when user is empty);
/// returns the response.
inline httplib::Result request_token(httplib::Client& c, const std::string& user,
                                     const std::string& password,
                                     const std::vector<std::string>& scopes) {
  std::string target = "/v2/token?service=strata";
  for (const auto& s : scopes) {
    target += "&scope=" + httplib::detail::encode_query_param(s);
  }
  httplib::Headers headers;
  if (!user.empty()) {
    headers.emplace("Authorization",
                    "Basic " + base64_encode(user + ":" + password));
  }
  return c.Get(target, headers);
}

/// A token for `scopes` (the request must succeed).
inline std::string token_for(httplib::Client& c, const std::string& user,
                             const std::string& password, const std::vector<std::string>& scopes) {
  auto res = request_token(c, user, password, scopes);
  REQUIRE(res);
  REQUIRE(res->status == 200);
  const auto j = nlohmann::json::parse(res->body);
  REQUIRE(j.at("token") == j.at("access_token"));
  return j.at("token").get<std::string>();
}

inline httplib::Headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

inline httplib::Headers basic(const std::string& user, const std::string& password) {
  return {{"Authorization", "Basic " + base64_encode(user + ":" + password)}};
}

}  // namespace strata::registry::test
