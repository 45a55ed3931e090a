// Internal to the recipe parser: typed, located access to toml++ nodes. Every accessor
// throws InvalidInput "FILE:LINE:COL: message" naming the key and the table it sits in,
// so no recipe error is ever reported without a position.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "builder/recipe.hpp"

namespace strata::builder::detail {

/// Reads values out of one parsed TOML document. Holds the file name only; not thread-safe
/// (cheap to copy).
class TomlReader {
 public:
  explicit TomlReader(std::string file) : m_file(std::move(file)) {}

  [[nodiscard]] const std::string& file() const noexcept { return m_file; }
  [[nodiscard]] SourceLocation at(const toml::source_region& region) const;
  [[nodiscard]] SourceLocation at(const toml::node& node) const { return at(node.source()); }

  /// Throws InvalidInput "LOCATION: message".
  [[noreturn]] void fail_at(const SourceLocation& where, const std::string& message) const;
  [[noreturn]] void fail_at(const toml::node& node, const std::string& message) const {
    fail_at(at(node), message);
  }

  /// Rejects any key of `table` not in `allowed`; `what` names the table ("[recipe]").
  void check_keys(const toml::table& table, std::initializer_list<std::string_view> allowed,
                  std::string_view what) const;

  /// The node at `key`, or nullptr when absent.
  static const toml::node* find(const toml::table& table, std::string_view key);

  /// Typed getters; nullopt when the key is absent, InvalidInput on a wrong type.
  std::optional<std::string> string(const toml::table& table, std::string_view key,
                                    std::string_view what) const;
  std::optional<std::int64_t> integer(const toml::table& table, std::string_view key,
                                      std::string_view what) const;
  std::optional<std::vector<std::string>> string_array(const toml::table& table,
                                                       std::string_view key,
                                                       std::string_view what) const;
  /// A table of string values (env, labels, annotations).
  std::optional<std::map<std::string, std::string>> string_map(const toml::table& table,
                                                               std::string_view key,
                                                               std::string_view what) const;
  /// Like string() but the key is required (error located at the table).
  std::string required_string(const toml::table& table, std::string_view key,
                              std::string_view what) const;

  /// A permission mode: an integer (0o755) or an octal string ("0755"), 0..0o7777.
  std::optional<std::uint32_t> mode(const toml::table& table, std::string_view key,
                                    std::string_view what) const;
  /// A numeric owner "uid:gid".
  std::optional<Owner> owner(const toml::table& table, std::string_view key,
                             std::string_view what) const;

 private:
  [[noreturn]] void wrong_type(const toml::node& node, std::string_view key, std::string_view what,
                               std::string_view expected) const;
  std::string m_file;
};

/// Name of a TOML node's type for messages ("string", "integer", "table", ...).
std::string_view type_name(const toml::node& node);

/// Normalises an absolute image path: must start with '/', no "..", no empty result
/// unless `allow_root`. Returns it without trailing '/' ("/" for the root). Throws
/// InvalidInput at `where`.
std::string normalise_image_path(std::string_view text, const SourceLocation& where,
                                 std::string_view what, bool allow_root);

/// Parses one step table (dispatch on its `type`). `recipe_dir` is the build context used
/// to check copy sources. Throws InvalidInput / Unsupported at the step.
Step parse_step(const TomlReader& reader, const toml::table& table,
                const std::filesystem::path& recipe_dir);

}  // namespace strata::builder::detail
