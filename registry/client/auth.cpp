#include "registry/client/auth.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <sstream>

#include "oci/base64.hpp"
#include "util/error.hpp"

namespace strata::registry::client {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
         std::string_view("!#$%&'*+-.^_`|~/").find(c) != std::string_view::npos;
}

std::string key_of(const std::vector<std::string>& scopes) {
  std::string key;
  for (const auto& s : merge_scopes(scopes)) {
    key += s;
    key += ' ';
  }
  return key;
}

}  // namespace

std::vector<Challenge> parse_www_authenticate(std::string_view v) {
  std::vector<Challenge> out;
  std::size_t i = 0;
  auto skip_ws = [&] {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) {
      ++i;
    }
  };
  auto token = [&] {
    const std::size_t start = i;
    while (i < v.size() && is_token_char(v[i])) {
      ++i;
    }
    return std::string(v.substr(start, i - start));
  };
  while (true) {
    skip_ws();
    if (i >= v.size()) {
      break;
    }
    std::string scheme = token();
    if (scheme.empty()) {
      ++i;
      continue;
    }
    Challenge ch{lower(scheme), {}};
    // Parameters: key=value pairs until the next bare token (a new scheme).
    while (true) {
      skip_ws();
      const std::size_t save = i;
      std::string key = token();
      while (i < v.size() && v[i] == ' ') {
        ++i;
      }
      if (key.empty() || i >= v.size() || v[i] != '=') {
        i = save;
        break;
      }
      ++i;
      while (i < v.size() && v[i] == ' ') {
        ++i;
      }
      std::string value;
      if (i < v.size() && v[i] == '"') {
        ++i;
        while (i < v.size() && v[i] != '"') {
          if (v[i] == '\\' && i + 1 < v.size()) {
            ++i;
          }
          value.push_back(v[i++]);
        }
        ++i;
      } else {
        value = token();
        while (i < v.size() && v[i] == '=') {  // token68 padding
          value.push_back(v[i++]);
        }
      }
      ch.params[lower(key)] = value;
    }
    out.push_back(std::move(ch));
  }
  return out;
}

std::vector<std::string> merge_scopes(const std::vector<std::string>& scopes) {
  std::map<std::string, std::set<std::string>> resources;
  std::set<std::string> other;
  for (const auto& s : scopes) {
    const auto last = s.rfind(':');
    const auto first = s.find(':');
    if (first == std::string::npos || last == first) {
      other.insert(s);
      continue;
    }
    auto& actions = resources[s.substr(0, last)];
    std::stringstream ss(s.substr(last + 1));
    std::string a;
    while (std::getline(ss, a, ',')) {
      if (!a.empty()) {
        actions.insert(a);
      }
    }
  }
  std::vector<std::string> out;
  for (const auto& [resource, actions] : resources) {
    std::string s = resource + ":";
    bool first = true;
    for (const auto& a : actions) {
      s += (first ? "" : ",") + a;
      first = false;
    }
    out.push_back(s);
  }
  out.insert(out.end(), other.begin(), other.end());
  std::sort(out.begin(), out.end());
  return out;
}

Authenticator::Authenticator(std::string registry, CredentialSource credentials)
    : m_registry(std::move(registry)), m_source(std::move(credentials)) {}

std::optional<Credential> Authenticator::credential() {
  if (!m_loaded) {
    m_loaded = true;
    if (m_source) {
      m_credential = m_source();
    }
  }
  return m_credential;
}

std::string Authenticator::header(const std::vector<std::string>& scopes) {
  std::lock_guard lock(m_mutex);
  if (!m_challenge) {
    return {};
  }
  if (m_challenge->scheme == "basic") {
    const auto c = credential();
    if (!c) {
      return {};
    }
    return "Authorization: Basic " + oci::base64_encode(c->username + ":" + c->password);
  }
  const auto it = m_tokens.find(key_of(scopes));
  return it == m_tokens.end() ? std::string() : "Authorization: Bearer " + it->second;
}

std::size_t Authenticator::tokens_fetched() const {
  std::lock_guard lock(m_mutex);
  return m_fetched;
}

void Authenticator::authenticate(HttpClient& http, const HttpResponse& unauthorized,
                                 const std::vector<std::string>& scopes) {
  std::lock_guard lock(m_mutex);
  const auto challenges = parse_www_authenticate(unauthorized.header("WWW-Authenticate"));
  const Challenge* pick = nullptr;
  for (const auto& c : challenges) {
    if (c.scheme == "bearer" && c.params.contains("realm")) {
      pick = &c;
      break;
    }
    if (c.scheme == "basic" && pick == nullptr) {
      pick = &c;
    }
  }
  if (pick == nullptr) {
    util::fail(util::ErrorKind::Unauthorized,
               m_registry + " refused access (HTTP 401) without a usable WWW-Authenticate "
                            "challenge; check the registry address");
  }
  m_challenge = *pick;
  const std::string login_hint = " (run `strata login " + m_registry + "`)";
  if (pick->scheme == "basic") {
    if (!credential()) {
      util::fail(util::ErrorKind::Unauthorized,
                 m_registry + " requires a user name and password" + login_hint);
    }
    return;
  }
  // Bearer: the scopes of the operation plus the one the challenge names.
  std::vector<std::string> all = scopes;
  if (const auto it = pick->params.find("scope"); it != pick->params.end()) {
    std::stringstream ss(it->second);
    std::string s;
    while (ss >> s) {
      all.push_back(s);
    }
  }
  const std::string key = key_of(scopes);
  m_tokens.erase(key);
  const auto merged = merge_scopes(all);
  const std::string& realm = pick->params.at("realm");
  std::string query;
  if (const auto it = pick->params.find("service"); it != pick->params.end()) {
    query += "service=" + url_encode(it->second);
  }
  for (const auto& s : merged) {
    query += (query.empty() ? "" : "&") + std::string("scope=") + url_encode(s);
  }
  const auto cred = credential();
  HttpRequest req;
  HttpResponse res;
  std::string form;
  std::optional<util::StringSource> form_source;
  if (cred && !cred->identity_token.empty()) {
    // OAuth2 refresh-token grant, as Docker does with an identity token.
    form = "grant_type=refresh_token&client_id=strata&refresh_token=" +
           url_encode(cred->identity_token) + (query.empty() ? "" : "&" + query);
    form_source.emplace(form);
    req.method = "POST";
    req.url = realm;
    req.headers.push_back("Content-Type: application/x-www-form-urlencoded");
    req.body = &*form_source;
    req.body_size = form.size();
  } else {
    req.url = realm + (realm.find('?') == std::string::npos ? "?" : "&") + query;
    if (cred) {
      req.headers.push_back("Authorization: Basic " +
                            oci::base64_encode(cred->username + ":" + cred->password));
    }
  }
  res = http.perform(req);
  if (res.status == 401 || res.status == 403) {
    util::fail(util::ErrorKind::Unauthorized,
               "the token service " + realm + " refused " +
                   (cred ? std::string("the stored credentials") : std::string("anonymous access")) +
                   " for " + (merged.empty() ? std::string("the registry") : merged.front()) +
                   " (HTTP " + std::to_string(res.status) + ")" + login_hint);
  }
  if (res.status < 200 || res.status >= 300) {
    util::fail(util::ErrorKind::Timeout, "the token service " + realm + " answered HTTP " +
                                             std::to_string(res.status));
  }
  std::string token;
  try {
    const auto j = nlohmann::json::parse(res.body);
    token = j.value("token", "");
    if (token.empty()) {
      token = j.value("access_token", "");
    }
  } catch (const nlohmann::json::exception&) {
  }
  if (token.empty()) {
    util::fail(util::ErrorKind::Unauthorized,
               "the token service " + realm + " returned no token (expected JSON with \"token\")");
  }
  m_tokens[key] = token;
  ++m_fetched;
}

}  // namespace strata::registry::client
