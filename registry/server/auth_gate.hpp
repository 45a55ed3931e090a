// Internal to registry/server: the per-request authentication gate, the token endpoint and
// the parts of routing that depend on who the caller is (catalog filtering, mounts
// without `from`). See auth.hpp for the flow.
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "registry/server/auth.hpp"

namespace strata::registry {

struct Context;
struct Call;

/// Who is calling. `user` is empty for anonymous callers (with or without a token).
struct Identity {
  std::string user;
  bool has_credentials = false;  // an Authorization header was sent and checked
  bool bearer = false;           // authenticated by token (then `claims` is set)
  TokenClaims claims;
};

/// What a request needs: `actions` on repository `repo`.
struct Need {
  std::string repo;
  unsigned actions = 0;
};

/// Checks credentials, tokens and ACLs for a server with auth on. Thread-safe.
class AuthGate {
 public:
  /// Loads the htpasswd file and the token key (<root>/token.key, created if missing).
  /// Throws InvalidInput/NotFound/IO naming the file. `tls`: realm scheme is https.
  AuthGate(AuthConfig config, const std::filesystem::path& root, bool tls);

  [[nodiscard]] const AuthConfig& config() const noexcept { return m_config; }

  /// GET /v2/token: issues a token for the requested scopes.
  void issue_token(Context& ctx, Call& call);
  /// Lets the request through when the caller may do every need; with no needs (GET /v2/)
  /// any valid credentials or token do, but not an anonymous call. Throws ApiError 401
  /// (with a Bearer challenge) or 403 DENIED.
  Identity authorize(Context& ctx, Call& call, const std::vector<Need>& needs);
  /// GET /v2/_catalog, listing only repositories the caller may pull.
  void list_catalog(Context& ctx, Call& call);
  /// POST .../blobs/uploads/?mount=D without `from`: names (by rewriting the query) a
  /// repository the caller may pull that holds the blob, so that the mount only considers
  /// readable repositories; the target itself when none does (then the upload falls back
  /// to a normal session unless the target already has the blob).
  void choose_mount_source(Context& ctx, Call& call, const Identity& who,
                           const std::string& target_repo, const std::string& digest);

  /// The actions `who` may take on `repo` according to the ACL.
  [[nodiscard]] unsigned allowed(const Identity& who, std::string_view repo) const;

 private:
  Identity identify(Context& ctx, Call& call, const std::vector<Need>& needs,
                    const std::string& catalog_scope);
  bool check_password(Context& ctx, const std::string& user, const std::string& password);
  [[noreturn]] void challenge(const Call& call, const std::vector<std::string>& scopes,
                              std::string_view error, const std::string& message) const;
  [[nodiscard]] std::string realm(const Call& call) const;

  AuthConfig m_config;
  Htpasswd m_users;
  Acl m_acl;
  TokenSigner m_signer;
  bool m_tls;
  std::mutex m_cache_mutex;
  std::map<std::string, std::int64_t> m_password_cache;  // hash(user, password) -> expiry
};

}  // namespace strata::registry
