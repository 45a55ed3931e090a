#include "builder/recipe_toml.hpp"

#include <charconv>

#include "util/error.hpp"

namespace strata::builder::detail {

SourceLocation TomlReader::at(const toml::source_region& region) const {
  SourceLocation loc;
  loc.file = m_file;
  loc.line = region.begin.line;
  loc.column = region.begin.column;
  return loc;
}

void TomlReader::fail_at(const SourceLocation& where, const std::string& message) const {
  util::fail(util::ErrorKind::InvalidInput, where.str() + ": " + message);
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      return "nothing";
  }
  return "a value";
}

void TomlReader::check_keys(const toml::table& table,
                            std::initializer_list<std::string_view> allowed,
                            std::string_view what) const {
  for (const auto& [key, node] : table) {
    bool ok = false;
    for (auto name : allowed) {
      ok = ok || key.str() == name;
    }
    if (!ok) {
      std::string list;
      for (auto name : allowed) {
        list += (list.empty() ? "" : ", ") + std::string(name);
      }
      SourceLocation where = at(key.source());
      if (where.line == 0) {
        where = at(node);
      }
      fail_at(where, "unknown key '" + std::string(key.str()) + "' in " + std::string(what) +
                         " (allowed: " + list + ")");
    }
  }
}

const toml::node* TomlReader::find(const toml::table& table, std::string_view key) {
  return table.get(key);
}

void TomlReader::wrong_type(const toml::node& node, std::string_view key, std::string_view what,
                            std::string_view expected) const {
  fail_at(node, "'" + std::string(key) + "' in " + std::string(what) + " must be " +
                    std::string(expected) + ", not " + std::string(type_name(node)));
}

std::optional<std::string> TomlReader::string(const toml::table& table, std::string_view key,
                                              std::string_view what) const {
  const toml::node* node = find(table, key);
  if (node == nullptr) {
    return std::nullopt;
  }
  if (!node->is_string()) {
    wrong_type(*node, key, what, "a string");
  }
  return node->as_string()->get();
}

std::string TomlReader::required_string(const toml::table& table, std::string_view key,
                                        std::string_view what) const {
  auto value = string(table, key, what);
  if (!value) {
    fail_at(at(table),
            std::string(what) + " is missing the required key '" + std::string(key) + "'");
  }
  return *value;
}

std::optional<std::int64_t> TomlReader::integer(const toml::table& table, std::string_view key,
                                                std::string_view what) const {
  const toml::node* node = find(table, key);
  if (node == nullptr) {
    return std::nullopt;
  }
  if (!node->is_integer()) {
    wrong_type(*node, key, what, "an integer");
  }
  return node->as_integer()->get();
}

std::optional<std::vector<std::string>> TomlReader::string_array(const toml::table& table,
                                                                 std::string_view key,
                                                                 std::string_view what) const {
  const toml::node* node = find(table, key);
  if (node == nullptr) {
    return std::nullopt;
  }
  if (!node->is_array()) {
    wrong_type(*node, key, what, "an array of strings");
  }
  std::vector<std::string> out;
  for (const auto& item : *node->as_array()) {
    if (!item.is_string()) {
      fail_at(item, "'" + std::string(key) + "' in " + std::string(what) +
                        " must hold only strings, not " + std::string(type_name(item)));
    }
    out.push_back(item.as_string()->get());
  }
  return out;
}

std::optional<std::map<std::string, std::string>> TomlReader::string_map(
    const toml::table& table, std::string_view key, std::string_view what) const {
  const toml::node* node = find(table, key);
  if (node == nullptr) {
    return std::nullopt;
  }
  if (!node->is_table()) {
    wrong_type(*node, key, what, "a table of strings");
  }
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : *node->as_table()) {
    if (!v.is_string()) {
      fail_at(v, "'" + std::string(key) + "." + std::string(k.str()) + "' in " + std::string(what) +
                     " must be a string, not " + std::string(type_name(v)));
    }
    out.emplace(std::string(k.str()), v.as_string()->get());
  }
  return out;
}

std::optional<std::uint32_t> TomlReader::mode(const toml::table& table, std::string_view key,
                                              std::string_view what) const {
  const toml::node* node = find(table, key);
  if (node == nullptr) {
    return std::nullopt;
  }
  const std::string hint = "'" + std::string(key) + "' in " + std::string(what) +
                           " must be a permission mode between 0 and 0o7777, written 0o755 or "
                           "\"0755\"";
  if (node->is_integer()) {
    const std::int64_t v = node->as_integer()->get();
    if (v < 0 || v > 07777) {
      fail_at(*node, hint + " (got " + std::to_string(v) + ")");
    }
    return static_cast<std::uint32_t>(v);
  }
  if (node->is_string()) {
    std::string_view text = node->as_string()->get();
    const std::string shown(text);
    if (text.starts_with("0o")) {
      text.remove_prefix(2);
    }
    std::uint32_t v = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, v, 8);
    if (text.empty() || text.size() > 5 || ec != std::errc() || ptr != end || v > 07777) {
      fail_at(*node, hint + " (got \"" + shown + "\")");
    }
    return v;
  }
  wrong_type(*node, key, what, "an integer like 0o755 or an octal string like \"0755\"");
}

std::optional<Owner> TomlReader::owner(const toml::table& table, std::string_view key,
                                       std::string_view what) const {
  const toml::node* node = find(table, key);
  if (node == nullptr) {
    return std::nullopt;
  }
  if (!node->is_string()) {
    wrong_type(*node, key, what, "a string \"UID:GID\"");
  }
  const std::string& text = node->as_string()->get();
  const auto colon = text.find(':');
  auto parse_id = [&](std::string_view part, std::uint32_t& out) {
    const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), out, 10);
    return !part.empty() && ec == std::errc() && ptr == part.data() + part.size();
  };
  Owner owner;
  if (colon == std::string::npos || !parse_id(std::string_view(text).substr(0, colon), owner.uid) ||
      !parse_id(std::string_view(text).substr(colon + 1), owner.gid)) {
    fail_at(*node, "'" + std::string(key) + "' in " + std::string(what) +
                       " must be numeric \"UID:GID\" like \"1000:1000\" (got \"" + text + "\")");
  }
  return owner;
}

std::string normalise_image_path(std::string_view text, const SourceLocation& where,
                                 std::string_view what, bool allow_root) {
  auto bad = [&](const std::string& why) {
    util::fail(util::ErrorKind::InvalidInput,
               where.str() + ": " + std::string(what) + " \"" + std::string(text) + "\" " + why);
  };
  if (!text.starts_with('/')) {
    bad("must be an absolute path in the image (start with '/')");
  }
  if (text.find('\0') != std::string_view::npos) {
    bad("must not contain NUL");
  }
  std::string out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t next = text.find('/', pos);
    if (next == std::string_view::npos) {
      next = text.size();
    }
    const std::string_view part = text.substr(pos, next - pos);
    if (part == "..") {
      bad("must not contain '..'");
    }
    if (!part.empty() && part != ".") {
      out += '/';
      out += part;
    }
    pos = next + 1;
  }
  if (out.empty()) {
    if (!allow_root) {
      bad("must name a file, not the root directory");
    }
    return "/";
  }
  return out;
}

}  // namespace strata::builder::detail
