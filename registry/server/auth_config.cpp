// The registry config file (`strata registry serve --config FILE`), TOML:
//
//   [auth]
//   htpasswd = "users.htpasswd"     # bcrypt only
//   realm = "https://reg.example/v2/token"   # optional
//   service = "strata"              # optional
//   token_ttl = "5m"
//   anonymous_pull = false
//   [[acl]]
//   users = ["alice", "*"]          # "*" any authenticated user, "anonymous" no credentials
//   repositories = ["team/*"]
//   actions = ["pull", "push", "delete"]
//   [tls]
//   cert = "cert.pem"
//   key = "key.pem"
//
// Every unknown key or wrong type is an error at FILE:LINE:COL.
#include <toml++/toml.h>

#include "registry/server/auth.hpp"
#include "registry/server/server.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace strata::registry {

namespace {

class Reader {
 public:
  explicit Reader(std::string source) : m_source(std::move(source)) {}

  [[noreturn]] void fail_at(const toml::source_region& where, const std::string& message) const {
    util::fail(util::ErrorKind::InvalidInput, m_source + ":" + std::to_string(where.begin.line) +
                                                  ":" + std::to_string(where.begin.column) +
                                                  ": " + message);
  }

  void check_keys(const toml::table& table, std::initializer_list<std::string_view> allowed,
                  std::string_view what) const {
    for (const auto& [key, node] : table) {
      bool ok = false;
      std::string list;
      for (const auto name : allowed) {
        ok = ok || key.str() == name;
        list += (list.empty() ? "" : ", ") + std::string(name);
      }
      if (!ok) {
        const auto& region = key.source().begin.line != 0 ? key.source() : node.source();
        fail_at(region, "unknown key '" + std::string(key.str()) + "' in " + std::string(what) +
                            " (allowed: " + list + ")");
      }
    }
  }

  const toml::table* table(const toml::table& parent, std::string_view key) const {
    const toml::node* node = parent.get(key);
    if (node == nullptr) {
      return nullptr;
    }
    if (!node->is_table()) {
      fail_at(node->source(), "'" + std::string(key) + "' must be a table ([" +
                                  std::string(key) + "])");
    }
    return node->as_table();
  }

  std::optional<std::string> string(const toml::table& t, std::string_view key,
                                    std::string_view what) const {
    const toml::node* node = t.get(key);
    if (node == nullptr) {
      return std::nullopt;
    }
    if (!node->is_string()) {
      fail_at(node->source(), "'" + std::string(key) + "' in " + std::string(what) +
                                  " must be a string");
    }
    return node->as_string()->get();
  }

  std::optional<bool> boolean(const toml::table& t, std::string_view key,
                              std::string_view what) const {
    const toml::node* node = t.get(key);
    if (node == nullptr) {
      return std::nullopt;
    }
    if (!node->is_boolean()) {
      fail_at(node->source(), "'" + std::string(key) + "' in " + std::string(what) +
                                  " must be true or false");
    }
    return node->as_boolean()->get();
  }

  std::vector<std::string> strings(const toml::table& t, std::string_view key,
                                   std::string_view what) const {
    const toml::node* node = t.get(key);
    if (node == nullptr) {
      fail_at(t.source(), std::string(what) + " needs '" + std::string(key) + "'");
    }
    const toml::array* array = node->as_array();
    if (array == nullptr || array->empty()) {
      fail_at(node->source(), "'" + std::string(key) + "' in " + std::string(what) +
                                  " must be a non-empty array of strings");
    }
    std::vector<std::string> out;
    for (const auto& item : *array) {
      if (!item.is_string() || item.as_string()->get().empty()) {
        fail_at(item.source(), "'" + std::string(key) + "' in " + std::string(what) +
                                   " must hold non-empty strings");
      }
      out.push_back(item.as_string()->get());
    }
    return out;
  }

 private:
  std::string m_source;
};

std::filesystem::path resolve(const std::filesystem::path& base, const std::string& path) {
  const std::filesystem::path p(path);
  return p.is_absolute() || base.empty() ? p : base / p;
}

}  // namespace

RegistryConfig load_registry_config(const std::filesystem::path& file) {
  return parse_registry_config(util::read_file(file), file.string(), file.parent_path());
}

RegistryConfig parse_registry_config(std::string_view text, const std::string& source,
                                     const std::filesystem::path& base_dir) {
  const Reader reader(source);
  toml::table doc;
  try {
    doc = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    reader.fail_at(e.source(), std::string(e.description()));
  }
  reader.check_keys(doc, {"auth", "acl", "tls"}, "the registry config");
  RegistryConfig config;

  if (const auto* auth = reader.table(doc, "auth")) {
    reader.check_keys(*auth, {"htpasswd", "realm", "service", "token_ttl", "anonymous_pull"},
                      "[auth]");
    if (const auto v = reader.string(*auth, "htpasswd", "[auth]")) {
      config.auth.htpasswd = resolve(base_dir, *v);
    }
    config.auth.realm = reader.string(*auth, "realm", "[auth]").value_or("");
    config.auth.service = reader.string(*auth, "service", "[auth]").value_or("strata");
    if (config.auth.service.empty() ||
        config.auth.service.find_first_of("\"\\ ,") != std::string::npos) {
      reader.fail_at(auth->get("service")->source(),
                     "'service' must be a non-empty name without quotes, spaces or commas");
    }
    if (const auto v = reader.string(*auth, "token_ttl", "[auth]")) {
      try {
        config.auth.token_ttl = parse_duration(*v);
      } catch (const util::Error& e) {
        reader.fail_at(auth->get("token_ttl")->source(), e.what());
      }
      if (config.auth.token_ttl.count() < 1) {
        reader.fail_at(auth->get("token_ttl")->source(), "'token_ttl' must be at least 1s");
      }
    }
    config.auth.anonymous_pull = reader.boolean(*auth, "anonymous_pull", "[auth]").value_or(false);
  }

  if (const toml::node* acl = doc.get("acl")) {
    const toml::array* rules = acl->as_array();
    if (rules == nullptr) {
      reader.fail_at(acl->source(), "'acl' must be an array of tables ([[acl]])");
    }
    for (const auto& node : *rules) {
      const toml::table* rule = node.as_table();
      if (rule == nullptr) {
        reader.fail_at(node.source(), "each [[acl]] entry must be a table");
      }
      reader.check_keys(*rule, {"users", "repositories", "actions"}, "[[acl]]");
      AclRule out;
      out.users = reader.strings(*rule, "users", "[[acl]]");
      out.repositories = reader.strings(*rule, "repositories", "[[acl]]");
      const toml::array* actions = rule->get("actions") ? rule->get("actions")->as_array() : nullptr;
      const auto names = reader.strings(*rule, "actions", "[[acl]]");
      for (std::size_t i = 0; i < names.size(); ++i) {
        const unsigned bit = parse_action(names[i]);
        if (bit == 0) {
          reader.fail_at((*actions)[i].source(), "unknown action '" + names[i] +
                                                     "' (use pull, push, delete or *)");
        }
        out.actions |= bit;
      }
      config.auth.acl.push_back(std::move(out));
    }
  }

  if (const auto* tls = reader.table(doc, "tls")) {
    reader.check_keys(*tls, {"cert", "key"}, "[tls]");
    const auto cert = reader.string(*tls, "cert", "[tls]");
    const auto key = reader.string(*tls, "key", "[tls]");
    if (cert.has_value() != key.has_value()) {
      reader.fail_at(tls->source(), "[tls] needs both 'cert' and 'key'");
    }
    if (cert) {
      config.tls.cert = resolve(base_dir, *cert);
      config.tls.key = resolve(base_dir, *key);
    }
  }
  if (!config.auth.enabled() && (!config.auth.acl.empty() || config.auth.anonymous_pull)) {
    util::fail(util::ErrorKind::InvalidInput,
               source + ": [[acl]] and anonymous_pull need [auth] htpasswd = \"FILE\" "
                        "(without users every caller may do everything)");
  }
  return config;
}

}  // namespace strata::registry
