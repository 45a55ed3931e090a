// The request gate: turns the Authorization header into an Identity and checks it against
// what the request needs, following distribution's token auth.
//
// - No Authorization header: anonymous. Allowed where the ACL lets "anonymous" do what is
//   needed; otherwise 401 with `WWW-Authenticate: Bearer realm,service,scope`. GET /v2/ is
//   always 401 for anonymous callers so that clients learn the realm.
// - Basic: checked against htpasswd (successes cached for a minute, keyed by a hash of
//   user and password, so that clients sending Basic on every request do not pay bcrypt
//   each time). Wrong credentials: 401 challenge. Right credentials, ACL says no: 403 DENIED.
// - Bearer: signature, audience and expiry checked; the token's access list must cover the
//   need, else 401 with error="insufficient_scope" and the needed scope, so that the client
//   fetches a better token.
#include "registry/server/auth_gate.hpp"

#include <ctime>

#include "registry/server/context.hpp"
#include "util/error.hpp"
#include "util/hash.hpp"

namespace strata::registry {

namespace {

constexpr std::int64_t k_password_cache_seconds = 60;
constexpr std::size_t k_password_cache_max = 4096;
constexpr std::size_t k_catalog_max_page = 10000;

std::string quote_safe(std::string text) {
  std::string out;
  for (const char c : text) {
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) {
      out.push_back(c);
    }
  }
  return out;
}

std::string rfc3339(std::int64_t t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// The scope a challenge names for a need: pushing also asks for pull, as distribution does.
std::string scope_for(const Need& need) {
  unsigned actions = need.actions;
  if ((actions & k_action_push) != 0) {
    actions |= k_action_pull;
  }
  return Scope{"repository", need.repo, actions}.str();
}

}  // namespace

AuthGate::AuthGate(AuthConfig config, const std::filesystem::path& root, bool tls)
    : m_config(std::move(config)),
      m_users(Htpasswd::load(m_config.htpasswd)),
      m_acl(m_config.acl, m_config.anonymous_pull),
      m_signer(TokenSigner::from_key_file(root / "token.key")),
      m_tls(tls) {}

std::string AuthGate::realm(const Call& call) const {
  if (!m_config.realm.empty()) {
    return m_config.realm;
  }
  std::string host = call.req.get_header_value("Host");
  if (host.empty()) {
    host = call.req.local_addr + ":" + std::to_string(call.req.local_port);
  }
  return std::string(m_tls ? "https" : "http") + "://" + host + "/v2/token";
}

void AuthGate::challenge(const Call& call, const std::vector<std::string>& scopes,
                         std::string_view error, const std::string& message) const {
  std::string header = "Bearer realm=\"" + quote_safe(realm(call)) + "\",service=\"" +
                       m_config.service + "\"";
  if (!scopes.empty()) {
    std::string joined;
    for (const auto& s : scopes) {
      joined += (joined.empty() ? "" : " ") + s;
    }
    header += ",scope=\"" + quote_safe(joined) + "\"";
  }
  if (!error.empty()) {
    header += ",error=\"" + std::string(error) + "\"";
  }
  nlohmann::json detail = nlohmann::json::array();
  for (const auto& s : scopes) {
    const auto parsed = parse_scope(s);
    if (parsed && parsed->type == "repository") {
      detail.push_back({{"Type", "repository"},
                        {"Class", ""},
                        {"Name", parsed->name},
                        {"Action", action_list(parsed->actions)}});
    }
  }
  throw ApiError(401, ErrorCode::Unauthorized, message,
                 detail.empty() ? nlohmann::json(nullptr) : detail)
      .with_header("WWW-Authenticate", header);
}

bool AuthGate::check_password(Context& ctx, const std::string& user, const std::string& password) {
  std::string key = user;
  key.push_back('\0');
  key += password;
  key = util::hash_hex(key);
  const std::int64_t now = ctx.now();
  {
    std::lock_guard lock(m_cache_mutex);
    const auto it = m_password_cache.find(key);
    if (it != m_password_cache.end() && it->second > now) {
      return true;
    }
  }
  if (!m_users.verify(user, password)) {
    return false;
  }
  std::lock_guard lock(m_cache_mutex);
  if (m_password_cache.size() >= k_password_cache_max) {
    m_password_cache.clear();
  }
  m_password_cache[key] = now + k_password_cache_seconds;
  return true;
}

Identity AuthGate::identify(Context& ctx, Call& call, const std::vector<Need>& needs,
                            const std::string& catalog_scope) {
  std::vector<std::string> scopes;
  for (const auto& n : needs) {
    scopes.push_back(scope_for(n));
  }
  if (!catalog_scope.empty()) {
    scopes.push_back(catalog_scope);
  }
  Identity who;
  const std::string header = call.req.get_header_value("Authorization");
  if (header.empty()) {
    return who;
  }
  who.has_credentials = true;
  const auto space = header.find(' ');
  std::string scheme = header.substr(0, space);
  for (auto& c : scheme) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const std::string value = space == std::string::npos ? "" : header.substr(space + 1);
  if (scheme == "basic") {
    const auto decoded = base64_decode(value);
    const auto colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos ||
        !check_password(ctx, decoded->substr(0, colon), decoded->substr(colon + 1))) {
      challenge(call, scopes, "", "authentication required: invalid user name or password");
    }
    who.user = decoded->substr(0, colon);
    return who;
  }
  if (scheme == "bearer") {
    auto claims = m_signer.verify(value, ctx.now(), m_config.service);
    if (!claims) {
      challenge(call, scopes, "invalid_token",
                "authentication required: the token is invalid or expired; get a new one "
                "from the token endpoint");
    }
    who.bearer = true;
    who.user = claims->subject;
    who.claims = std::move(*claims);
    return who;
  }
  challenge(call, scopes, "",
            "authentication required: unsupported Authorization scheme (use Basic or Bearer)");
}

unsigned AuthGate::allowed(const Identity& who, std::string_view repo) const {
  return m_acl.allowed(who.user, repo);
}

Identity AuthGate::authorize(Context& ctx, Call& call, const std::vector<Need>& needs) {
  Identity who = identify(ctx, call, needs, "");
  if (needs.empty()) {
    if (!who.has_credentials) {
      challenge(call, {}, "", "authentication required");
    }
    return who;
  }
  std::vector<std::string> missing;
  for (const auto& need : needs) {
    const bool ok = who.bearer ? who.claims.grants(need.repo, need.actions)
                               : (allowed(who, need.repo) & need.actions) == need.actions;
    if (!ok) {
      missing.push_back(scope_for(need));
    }
  }
  if (missing.empty()) {
    return who;
  }
  if (who.bearer) {
    std::vector<std::string> all;
    for (const auto& n : needs) {
      all.push_back(scope_for(n));
    }
    challenge(call, all, "insufficient_scope",
              "authentication required: the token does not grant " + missing.front());
  }
  if (!who.has_credentials) {
    std::vector<std::string> all;
    for (const auto& n : needs) {
      all.push_back(scope_for(n));
    }
    challenge(call, all, "", "authentication required to access " + needs.front().repo);
  }
  throw ApiError(403, ErrorCode::Denied,
                 "user " + who.user + " may not " + missing.front() +
                     " (ask the registry admin to extend the [[acl]] rules)");
}

void AuthGate::issue_token(Context& ctx, Call& call) {
  Identity who;
  const std::string header = call.req.get_header_value("Authorization");
  if (!header.empty()) {
    const auto space = header.find(' ');
    std::string scheme = header.substr(0, space);
    for (auto& c : scheme) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    const auto decoded =
        scheme == "basic" && space != std::string::npos ? base64_decode(header.substr(space + 1))
                                                        : std::nullopt;
    const auto colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos ||
        !check_password(ctx, decoded->substr(0, colon), decoded->substr(colon + 1))) {
      throw ApiError(401, ErrorCode::Unauthorized,
                     "invalid user name or password for the token endpoint")
          .with_header("WWW-Authenticate",
                       "Basic realm=\"" + quote_safe(m_config.service) + "\"");
    }
    who.user = decoded->substr(0, colon);
    who.has_credentials = true;
  }
  if (const auto service = call.query.get("service");
      service && !service->empty() && *service != m_config.service) {
    throw ApiError(400, ErrorCode::Unsupported,
                   "unknown service \"" + service->substr(0, 100) + "\": this registry is \"" +
                       m_config.service + "\"");
  }
  TokenClaims claims;
  claims.subject = who.user;
  claims.audience = m_config.service;
  claims.issued_at = ctx.now();
  claims.expires_at = claims.issued_at + m_config.token_ttl.count();
  nlohmann::json granted_scopes = nlohmann::json::array();
  for (const auto& param : call.query.all("scope")) {
    std::string_view rest = param;
    while (!rest.empty()) {
      const auto sp = rest.find(' ');
      const std::string_view one = rest.substr(0, sp);
      rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
      if (one.empty()) {
        continue;
      }
      auto scope = parse_scope(one);
      if (!scope) {
        throw ApiError(400, ErrorCode::Unsupported,
                       "invalid scope \"" + std::string(one.substr(0, 300)) +
                           "\": expected repository:NAME:ACTIONS or registry:catalog:*");
      }
      if (scope->type == "registry") {
        if (!who.user.empty() || m_acl.anonymous_has_any()) {
          claims.access.push_back(*scope);
        }
        continue;
      }
      scope->actions &= allowed(who, scope->name);
      if (scope->actions != 0) {
        claims.access.push_back(*scope);
      }
    }
  }
  const std::string token = m_signer.sign(claims);
  const nlohmann::json body = {{"token", token},
                               {"access_token", token},
                               {"expires_in", m_config.token_ttl.count()},
                               {"issued_at", rfc3339(claims.issued_at)}};
  call.res.set_header("Cache-Control", "no-store");
  send_json(call.res, 200, body.dump());
}

void AuthGate::list_catalog(Context& ctx, Call& call) {
  const std::string scope = "registry:catalog:*";
  const Identity who = identify(ctx, call, {}, scope);
  if (who.bearer) {
    bool granted = false;
    for (const auto& s : who.claims.access) {
      granted = granted || (s.type == "registry" && s.name == "catalog");
    }
    if (!granted) {
      challenge(call, {scope}, "insufficient_scope",
                "authentication required: the token does not grant " + scope);
    }
  } else if (!who.has_credentials && !m_acl.anonymous_has_any()) {
    challenge(call, {scope}, "", "authentication required to list repositories");
  }
  const auto requested = parse_page_size(call.query);
  const std::size_t limit = std::min(requested.value_or(k_catalog_max_page), k_catalog_max_page);
  std::string after = call.query.get("last").value_or("");
  std::vector<std::string> repos;
  while (limit > 0 && repos.size() <= limit) {
    const auto batch = ctx.meta.list_repositories(after, 1000);
    for (const auto& r : batch) {
      if ((allowed(who, r) & k_action_pull) != 0) {
        repos.push_back(r);
      }
    }
    if (batch.size() < 1000) {
      break;
    }
    after = batch.back();
  }
  if (repos.size() > limit) {
    repos.resize(limit);
    call.res.set_header("Link", "</v2/_catalog?n=" + std::to_string(limit) +
                                    "&last=" + url_encode(repos.back()) + ">; rel=\"next\"");
  }
  send_json(call.res, 200, nlohmann::json{{"repositories", repos}}.dump());
}

void AuthGate::choose_mount_source(Context& ctx, Call& call, const Identity& who,
                                   const std::string& target_repo, const std::string& digest) {
  std::string source = target_repo;
  std::string after;
  bool found = false;
  while (!found) {
    const auto batch = ctx.meta.list_repositories(after, 1000);
    for (const auto& r : batch) {
      if ((allowed(who, r) & k_action_pull) != 0 && ctx.meta.blob_linked(r, digest)) {
        source = r;
        found = true;
        break;
      }
    }
    if (batch.size() < 1000) {
      break;
    }
    after = batch.back();
  }
  const std::string& target = call.req.target;
  call.query = Query(target + (target.find('?') == std::string::npos ? "?" : "&") +
                     "from=" + url_encode(source));
}

}  // namespace strata::registry
