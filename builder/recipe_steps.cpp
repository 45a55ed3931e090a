// Step parsing: one parser per step type, chosen from a table by the step's `type`.
// Step types planned for a later version are listed with a null parser so that a recipe
// using them fails with Unsupported (not "unknown type") at the step's position.
#include <array>

#include "builder/recipe_toml.hpp"
#include "builder/steps.hpp"
#include "util/error.hpp"

namespace strata::builder::detail {
namespace {

std::string normalise_source(const TomlReader& reader, const toml::node& node,
                             const std::string& src) {
  if (src.empty()) {
    reader.fail_at(node, "copy 'src' must not be empty (use \".\" for the whole recipe directory)");
  }
  if (src.starts_with('/')) {
    reader.fail_at(
        node, "copy source \"" + src + "\" must be relative to the recipe directory, not absolute");
  }
  if (src.find('\0') != std::string::npos) {
    reader.fail_at(node, "copy source must not contain NUL");
  }
  const std::string norm = std::filesystem::path(src).lexically_normal().generic_string();
  if (norm == ".." || norm.starts_with("../")) {
    reader.fail_at(node, "copy source \"" + src + "\" leaves the recipe directory");
  }
  std::string out = norm;
  while (out.size() > 1 && out.ends_with('/')) {
    out.pop_back();
  }
  return out.empty() ? "." : out;
}

Step parse_copy(const TomlReader& reader, const toml::table& table,
                const std::filesystem::path& recipe_dir) {
  constexpr std::string_view what = "a copy step";
  reader.check_keys(table, {"type", "src", "dest", "mode", "owner"}, what);
  CopyStep step;
  step.location = reader.at(table);
  const std::string src = reader.required_string(table, "src", what);
  step.src = normalise_source(reader, *table.get("src"), src);
  const std::string dest = reader.required_string(table, "dest", what);
  step.dest = normalise_image_path(dest, reader.at(*table.get("dest")), "copy 'dest'", true);
  step.dest_is_dir = dest.ends_with('/') || step.dest == "/";
  step.mode = reader.mode(table, "mode", what);
  step.owner = reader.owner(table, "owner", what);
  // The source must exist now; the build checks again (files may vanish in between).
  resolve_copy_source(recipe_dir, step.src, reader.at(*table.get("src")));
  return step;
}

Step parse_file(const TomlReader& reader, const toml::table& table,
                const std::filesystem::path& /*recipe_dir*/) {
  constexpr std::string_view what = "a file step";
  reader.check_keys(table, {"type", "path", "content", "mode", "owner"}, what);
  FileStep step;
  step.location = reader.at(table);
  const std::string path = reader.required_string(table, "path", what);
  if (path.ends_with('/')) {
    reader.fail_at(*table.get("path"),
                   "file 'path' \"" + path + "\" must name a file, not a directory");
  }
  step.path = normalise_image_path(path, reader.at(*table.get("path")), "file 'path'", false);
  step.content = reader.required_string(table, "content", what);
  step.mode = reader.mode(table, "mode", what).value_or(0644);
  step.owner = reader.owner(table, "owner", what);
  return step;
}

using StepParser = Step (*)(const TomlReader&, const toml::table&, const std::filesystem::path&);

struct StepKind {
  std::string_view name;
  StepParser parse;  // nullptr: reserved for a later version
};

constexpr std::array<StepKind, 5> k_step_kinds{{
    {"copy", &parse_copy},
    {"file", &parse_file},
    {"debian", nullptr},
    {"fetch", nullptr},
    {"run", nullptr},
}};

}  // namespace

Step parse_step(const TomlReader& reader, const toml::table& table,
                const std::filesystem::path& recipe_dir) {
  const std::string type = reader.required_string(table, "type", "a [[layer.step]]");
  for (const auto& kind : k_step_kinds) {
    if (kind.name != type) {
      continue;
    }
    if (kind.parse == nullptr) {
      util::fail(util::ErrorKind::Unsupported, reader.at(*table.get("type")).str() +
                                                   ": step type '" + type +
                                                   "' is not available in this version");
    }
    return kind.parse(reader, table, recipe_dir);
  }
  reader.fail_at(*table.get("type"), "unknown step type '" + type +
                                         "' (known: copy, file; planned: debian, fetch, run)");
}

}  // namespace strata::builder::detail
