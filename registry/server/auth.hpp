// Authentication and authorisation for strata's registry server.
//
// Users come from an htpasswd file holding bcrypt hashes (as `htpasswd -B` writes them).
// What a user may do is given by ACL rules (users x repository patterns x actions pull,
// push, delete). Clients authenticate the way Docker's distribution does with token auth:
// a request without credentials to a protected endpoint gets 401 with a
// `WWW-Authenticate: Bearer realm=...,service=...,scope=...` challenge; the client asks the
// built-in token endpoint (GET /v2/token) for the scopes it needs, with Basic credentials or
// anonymously, and gets an HMAC-SHA256-signed token granting the intersection of what it
// asked for and what the ACL allows; it then sends `Authorization: Bearer <token>`. Basic
// credentials sent directly to /v2/ endpoints are accepted as well.
//
// The pieces here are independent values so that tests can exercise each alone; the
// request gate that ties them together lives in auth_gate.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::registry {

/// Action bits of an ACL rule or a token grant.
inline constexpr unsigned k_action_pull = 1;
inline constexpr unsigned k_action_push = 2;
inline constexpr unsigned k_action_delete = 4;
inline constexpr unsigned k_action_all = k_action_pull | k_action_push | k_action_delete;

/// Parses "pull", "push", "delete" or "*" (all); 0 for anything else.
unsigned parse_action(std::string_view name) noexcept;
/// The comma-separated action list of a scope ("pull,push"), in the order pull, push, delete.
std::string action_list(unsigned actions);

/// One ACL rule: the users it applies to ("*" = every authenticated user, "anonymous" =
/// callers without credentials), repository patterns ('*' matches any run of characters,
/// '/' included; '?' one character) and the actions it grants. Plain value.
struct AclRule {
  std::vector<std::string> users;
  std::vector<std::string> repositories;
  unsigned actions = 0;
};

/// Auth settings. Auth is on when `htpasswd` is set. Plain value.
struct AuthConfig {
  std::filesystem::path htpasswd;  // bcrypt htpasswd file; empty: no auth at all
  std::string realm;               // token endpoint URL; empty: <scheme>://<Host>/v2/token
  std::string service = "strata";  // service name in challenges and tokens
  std::chrono::seconds token_ttl = std::chrono::minutes(5);
  bool anonymous_pull = false;     // callers without credentials may pull every repository
  std::vector<AclRule> acl;        // empty: every authenticated user may do everything
  [[nodiscard]] bool enabled() const noexcept { return !htpasswd.empty(); }
};

/// TLS settings: PEM certificate (chain) and private key files. On when `cert` is set.
struct TlsConfig {
  std::filesystem::path cert;
  std::filesystem::path key;
  [[nodiscard]] bool enabled() const noexcept { return !cert.empty(); }
};

/// What `strata registry serve --config FILE` reads. Plain value.
struct RegistryConfig {
  AuthConfig auth;
  TlsConfig tls;
};

/// Parses a registry config file (TOML):
///   [auth]  htpasswd, realm, service, token_ttl ("5m"), anonymous_pull
///   [[acl]] users = [...], repositories = [...], actions = ["pull", "push", "delete"]
///   [tls]   cert, key
/// Relative paths are taken from the file's directory. Unknown keys, wrong types and bad
/// values throw InvalidInput "FILE:LINE:COL: ...". NotFound/IO when unreadable.
RegistryConfig load_registry_config(const std::filesystem::path& file);
/// Same, from text; `source` names it in messages and `base_dir` resolves relative paths.
RegistryConfig parse_registry_config(std::string_view text, const std::string& source,
                                     const std::filesystem::path& base_dir);

/// Whether a repository pattern ('*' any run of characters, '?' one) matches `repo`.
bool repository_pattern_matches(std::string_view pattern, std::string_view repo) noexcept;

/// The users of an htpasswd file with their bcrypt hashes. Immutable after load;
/// verify() is thread-safe.
class Htpasswd {
 public:
  Htpasswd() = default;
  /// Reads FILE. Throws NotFound/IO when unreadable, InvalidInput "FILE:LINE: ..." for a
  /// malformed line or a hash that is not bcrypt ($2y$, $2b$, $2a$).
  static Htpasswd load(const std::filesystem::path& file);
  /// Same, from text; `source` names the file in messages.
  static Htpasswd parse(std::string_view text, const std::string& source);

  /// True when `user` exists and `password` matches its hash. Takes the same time for an
  /// unknown user (a dummy hash is checked) so that user names cannot be probed.
  [[nodiscard]] bool verify(std::string_view user, std::string_view password) const;
  [[nodiscard]] bool has_user(std::string_view user) const;
  [[nodiscard]] std::size_t size() const noexcept { return m_hashes.size(); }

 private:
  std::map<std::string, std::string, std::less<>> m_hashes;
};

/// Checks `password` against one bcrypt hash with libcrypt (constant-time comparison).
bool bcrypt_verify(std::string_view password, const std::string& hash);

/// Who may do what. Immutable; thread-safe.
class Acl {
 public:
  /// `rules` empty: authenticated users may do everything. `anonymous_pull` adds a rule
  /// letting anonymous callers pull every repository.
  Acl(std::vector<AclRule> rules, bool anonymous_pull);
  /// The actions `user` (empty: anonymous) may take on `repo`.
  [[nodiscard]] unsigned allowed(std::string_view user, std::string_view repo) const;
  /// Whether an anonymous caller may do anything at all.
  [[nodiscard]] bool anonymous_has_any() const noexcept { return m_anonymous_any; }

 private:
  std::vector<AclRule> m_rules;
  bool m_anonymous_any = false;
};

/// One requested or granted scope, "repository:NAME:pull,push" or "registry:catalog:*".
struct Scope {
  std::string type;  // "repository" or "registry"
  std::string name;  // repository name, or "catalog"
  unsigned actions = 0;
  /// The wire form.
  [[nodiscard]] std::string str() const;
};

/// Parses one scope; nullopt when malformed or of an unknown type/action set.
std::optional<Scope> parse_scope(std::string_view text);

/// The content of a token. Plain value.
struct TokenClaims {
  std::string subject;   // user name, empty for an anonymous token
  std::string audience;  // service name
  std::int64_t issued_at = 0;
  std::int64_t expires_at = 0;
  std::vector<Scope> access;

  /// Whether the token grants all of `actions` on repository `repo`.
  [[nodiscard]] bool grants(std::string_view repo, unsigned actions) const;
};

/// Signs and verifies tokens: JWT-shaped (header.payload.signature, base64url), signed
/// with HMAC-SHA256 under a secret key. Immutable; thread-safe.
class TokenSigner {
 public:
  /// `key`: the secret (at least 32 bytes).
  explicit TokenSigner(std::string key);
  /// Loads the key from `file`, creating it (32 random bytes, hex, mode 0600) when missing,
  /// so that tokens stay valid across restarts. Throws IO naming the file.
  static TokenSigner from_key_file(const std::filesystem::path& file);

  [[nodiscard]] std::string sign(const TokenClaims& claims) const;
  /// The claims of a token signed with this key that has not expired at `now` and is for
  /// `audience`; nullopt otherwise (bad signature, malformed, expired, wrong audience).
  [[nodiscard]] std::optional<TokenClaims> verify(std::string_view token, std::int64_t now,
                                                  std::string_view audience) const;

 private:
  std::string m_key;
};

/// Base64 (standard alphabet, with padding) encode/decode; decode returns nullopt on bad
/// input. `url` selects the URL-safe alphabet without padding.
std::string base64_encode(std::string_view data, bool url = false);
std::optional<std::string> base64_decode(std::string_view text, bool url = false);

}  // namespace strata::registry
