// Registry authentication (the Docker/OCI token flow). Requests go out anonymously (or
// with a cached token) first; a 401 carries WWW-Authenticate: either Basic (send the user's
// credentials with every request) or Bearer realm/service/scope (fetch a token from the
// realm with the scopes of the whole operation merged, e.g. "repository:a:pull,push" plus
// "repository:b:pull" for a cross-repository mount, authenticating to the realm with the
// user's credentials if there are any). Tokens are cached per scope set.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "registry/client/credentials.hpp"
#include "registry/client/http.hpp"

namespace strata::registry::client {

/// One challenge of a WWW-Authenticate header.
struct Challenge {
  std::string scheme;                         // lowercased: "bearer", "basic"
  std::map<std::string, std::string> params;  // keys lowercased, values unquoted
};

/// Parses a WWW-Authenticate header value (several challenges, quoted strings with
/// escapes, commas inside quotes). Unparsable parts are skipped. Pure; thread-safe.
std::vector<Challenge> parse_www_authenticate(std::string_view value);

/// Merges scopes "repository:NAME:ACTIONS": one entry per resource with the union of its
/// actions, sorted; other scope strings kept as they are. Pure; thread-safe.
std::vector<std::string> merge_scopes(const std::vector<std::string>& scopes);

/// Produces Authorization headers for one registry. Thread-safe (tokens cached under a
/// mutex, fetched with the caller's HttpClient).
class Authenticator {
 public:
  using CredentialSource = std::function<std::optional<Credential>()>;

  /// `credentials` is called at most once, the first time credentials are needed.
  Authenticator(std::string registry, CredentialSource credentials);

  /// The Authorization header line ("Authorization: ...") for `scopes`, or "" when no
  /// challenge has been seen yet (anonymous first).
  std::string header(const std::vector<std::string>& scopes);

  /// Handles a 401: parses its challenge, drops a cached token for the scope set and
  /// fetches a new one (or switches to Basic). Throws Unauthorized when the challenge
  /// cannot be answered (no credentials for Basic, token endpoint refused) and explains
  /// what to do (`strata login`).
  void authenticate(HttpClient& http, const HttpResponse& unauthorized,
                    const std::vector<std::string>& scopes);

  /// Number of tokens fetched so far (for tests and diagnostics).
  [[nodiscard]] std::size_t tokens_fetched() const;

 private:
  std::optional<Credential> credential();

  std::string m_registry;
  CredentialSource m_source;
  mutable std::mutex m_mutex;
  bool m_loaded = false;
  std::optional<Credential> m_credential;
  std::optional<Challenge> m_challenge;      // the last challenge seen
  std::map<std::string, std::string> m_tokens;  // merged scope set -> bearer token
  std::size_t m_fetched = 0;
};

}  // namespace strata::registry::client
