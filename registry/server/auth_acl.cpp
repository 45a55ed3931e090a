// ACL rules, repository patterns and token scopes.
#include "registry/server/auth.hpp"

namespace strata::registry {

unsigned parse_action(std::string_view name) noexcept {
  if (name == "pull") {
    return k_action_pull;
  }
  if (name == "push") {
    return k_action_push;
  }
  if (name == "delete") {
    return k_action_delete;
  }
  if (name == "*") {
    return k_action_all;
  }
  return 0;
}

std::string action_list(unsigned actions) {
  std::string out;
  const auto add = [&](unsigned bit, const char* name) {
    if ((actions & bit) != 0) {
      out += out.empty() ? "" : ",";
      out += name;
    }
  };
  add(k_action_pull, "pull");
  add(k_action_push, "push");
  add(k_action_delete, "delete");
  return out;
}

bool repository_pattern_matches(std::string_view pattern, std::string_view repo) noexcept {
  // Iterative glob match with backtracking to the last '*' (linear in practice).
  std::size_t p = 0;
  std::size_t r = 0;
  std::size_t star = std::string_view::npos;
  std::size_t star_r = 0;
  while (r < repo.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == repo[r])) {
      ++p;
      ++r;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_r = r;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      r = ++star_r;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

Acl::Acl(std::vector<AclRule> rules, bool anonymous_pull) : m_rules(std::move(rules)) {
  if (m_rules.empty()) {
    m_rules.push_back(AclRule{{"*"}, {"*"}, k_action_all});
  }
  if (anonymous_pull) {
    m_rules.push_back(AclRule{{"anonymous"}, {"*"}, k_action_pull});
  }
  for (const auto& rule : m_rules) {
    for (const auto& u : rule.users) {
      m_anonymous_any = m_anonymous_any || (u == "anonymous" && rule.actions != 0);
    }
  }
}

unsigned Acl::allowed(std::string_view user, std::string_view repo) const {
  unsigned actions = 0;
  for (const auto& rule : m_rules) {
    bool user_ok = false;
    for (const auto& u : rule.users) {
      user_ok = user_ok || (user.empty() ? u == "anonymous" : (u == "*" || u == user));
    }
    if (!user_ok) {
      continue;
    }
    for (const auto& pattern : rule.repositories) {
      if (repository_pattern_matches(pattern, repo)) {
        actions |= rule.actions;
        break;
      }
    }
  }
  return actions;
}

std::string Scope::str() const {
  if (type == "registry") {
    return type + ":" + name + ":*";
  }
  return type + ":" + name + ":" + action_list(actions);
}

std::optional<Scope> parse_scope(std::string_view text) {
  const auto first = text.find(':');
  const auto last = text.rfind(':');
  if (first == std::string_view::npos || first == last) {
    return std::nullopt;
  }
  Scope scope;
  scope.type = std::string(text.substr(0, first));
  scope.name = std::string(text.substr(first + 1, last - first - 1));
  std::string_view actions = text.substr(last + 1);
  if (scope.name.empty()) {
    return std::nullopt;
  }
  if (scope.type == "registry") {
    if (scope.name != "catalog") {
      return std::nullopt;
    }
    scope.actions = k_action_pull;
    return scope;
  }
  if (scope.type != "repository") {
    return std::nullopt;
  }
  // Docker sends e.g. "repository(plugin)"; only plain repositories exist here.
  while (!actions.empty()) {
    const auto comma = actions.find(',');
    // Unknown actions (e.g. "metadata-read") are ignored, as distribution does.
    scope.actions |= parse_action(actions.substr(0, comma));
    actions = comma == std::string_view::npos ? std::string_view{} : actions.substr(comma + 1);
  }
  return scope;
}

bool TokenClaims::grants(std::string_view repo, unsigned actions) const {
  unsigned have = 0;
  for (const auto& s : access) {
    if (s.type == "repository" && s.name == repo) {
      have |= s.actions;
    }
  }
  return (have & actions) == actions;
}

}  // namespace strata::registry
