// Step parsing: one parser per step type, chosen from a table by the step's `type`.
// A step type listed with a null parser is reserved: a recipe using it fails with
// Unsupported (not "unknown type") at the step's position.
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

bool optional_bool(const TomlReader& reader, const toml::table& table, std::string_view key,
                   std::string_view what, bool fallback) {
  const toml::node* node = TomlReader::find(table, key);
  if (node == nullptr) {
    return fallback;
  }
  if (!node->is_boolean()) {
    reader.fail_at(*node, "'" + std::string(key) + "' in " + std::string(what) +
                              " must be true or false, not " + std::string(type_name(*node)));
  }
  return node->as_boolean()->get();
}

Step parse_debian(const TomlReader& reader, const toml::table& table,
                  const std::filesystem::path& /*recipe_dir*/) {
  constexpr std::string_view what = "a debian step";
  reader.check_keys(table, {"type", "packages", "priority", "recommends"}, what);
  DebianStep step;
  step.location = reader.at(table);
  step.packages = reader.string_array(table, "packages", what).value_or(std::vector<std::string>{});
  for (std::size_t i = 0; i < step.packages.size(); ++i) {
    const std::string& p = step.packages[i];
    if (p.empty() || p.find_first_of("\n\r\t,|") != std::string::npos) {
      reader.fail_at(*table.get("packages")->as_array()->get(i),
                     "package \"" + p +
                         "\" must be NAME, NAME:ARCH, NAME=VERSION or \"NAME (OP VERSION)\"; "
                         "one package per string");
    }
  }
  step.priority = reader.string(table, "priority", what).value_or("none");
  if (step.priority != "none" && step.priority != "minbase" && step.priority != "important") {
    reader.fail_at(*table.get("priority"), "'priority' in a debian step must be \"none\", "
                                           "\"minbase\" or \"important\" (got \"" +
                                               step.priority + "\")");
  }
  if (step.packages.empty() && step.priority == "none") {
    reader.fail_at(table, "a debian step needs 'packages' (or a 'priority' set)");
  }
  step.recommends = optional_bool(reader, table, "recommends", what, false);
  return step;
}

std::string url_basename(const TomlReader& reader, const toml::node& node, const std::string& url) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  const auto scheme = path.find("://");
  if (scheme != std::string::npos) {
    const auto slash = path.find('/', scheme + 3);
    path = slash == std::string::npos ? std::string() : path.substr(slash);
  }
  const auto last = path.rfind('/');
  std::string name = last == std::string::npos ? path : path.substr(last + 1);
  if (name.empty() || name == "." || name == "..") {
    reader.fail_at(node, "fetch URL \"" + url +
                             "\" does not end in a file name; give 'dest' as a file path");
  }
  return name;
}

Step parse_fetch(const TomlReader& reader, const toml::table& table,
                 const std::filesystem::path& /*recipe_dir*/) {
  constexpr std::string_view what = "a fetch step";
  reader.check_keys(table,
                    {"type", "url", "sha256", "sha512", "dest", "extract", "strip_components",
                     "mode", "owner"},
                    what);
  FetchStep step;
  step.location = reader.at(table);
  step.url = reader.required_string(table, "url", what);
  const bool http = step.url.starts_with("http://") || step.url.starts_with("https://");
  if (!http && !step.url.starts_with("file://")) {
    reader.fail_at(*table.get("url"),
                   "fetch 'url' \"" + step.url + "\" must be an http://, https:// or file:// URL");
  }
  const auto sha256 = reader.string(table, "sha256", what);
  const auto sha512 = reader.string(table, "sha512", what);
  if (sha256.has_value() == sha512.has_value()) {
    reader.fail_at(table, "a fetch step needs exactly one of 'sha256' or 'sha512' (the "
                          "checksum the publisher of " + step.url + " gives)");
  }
  const std::string algo = sha256 ? "sha256" : "sha512";
  std::string hex = sha256 ? *sha256 : *sha512;
  if (hex.starts_with(algo + ":")) {
    hex = hex.substr(algo.size() + 1);
  }
  for (char& c : hex) {
    if (c >= 'A' && c <= 'F') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  try {
    step.digest = oci::Digest::parse(algo + ":" + hex);
  } catch (const util::Error&) {
    reader.fail_at(*table.get(algo), "'" + algo + "' must be " +
                                         (algo == "sha256" ? "64" : "128") +
                                         " hexadecimal digits (got \"" + hex + "\")");
  }
  const std::string dest = reader.required_string(table, "dest", what);
  step.dest = normalise_image_path(dest, reader.at(*table.get("dest")), "fetch 'dest'", true);
  step.dest_is_dir = dest.ends_with('/') || step.dest == "/";
  if (const auto extract = reader.string(table, "extract", what)) {
    if (*extract != "tar" && *extract != "zip") {
      reader.fail_at(*table.get("extract"),
                     "'extract' in a fetch step must be \"tar\" (.tar, .tar.gz, .tar.xz, "
                     ".tar.zst, .tar.bz2) or \"zip\" (got \"" + *extract + "\")");
    }
    step.extract = *extract;
  }
  if (const auto strip = reader.integer(table, "strip_components", what)) {
    if (*strip < 0 || *strip > 64 || step.extract.empty()) {
      reader.fail_at(*table.get("strip_components"),
                     "'strip_components' must be 0..64 and needs 'extract'");
    }
    step.strip_components = static_cast<std::uint32_t>(*strip);
  }
  step.mode = reader.mode(table, "mode", what);
  if (step.mode && !step.extract.empty()) {
    reader.fail_at(*table.get("mode"), "'mode' applies to a fetched file, not to an extraction");
  }
  step.owner = reader.owner(table, "owner", what);
  if (step.extract.empty() && step.dest_is_dir) {
    step.dest = (step.dest == "/" ? std::string() : step.dest) + "/" +
                url_basename(reader, *table.get("url"), step.url);
    step.dest_is_dir = false;
  }
  return step;
}

Step parse_run(const TomlReader& reader, const toml::table& table,
               const std::filesystem::path& /*recipe_dir*/) {
  constexpr std::string_view what = "a run step";
  reader.check_keys(table, {"type", "command", "env", "workdir", "user", "network"}, what);
  RunStep step;
  step.location = reader.at(table);
  const toml::node* command = TomlReader::find(table, "command");
  if (command == nullptr) {
    reader.fail_at(table, "a run step needs 'command' (a string run by /bin/sh -c, or an array)");
  }
  if (command->is_string()) {
    const std::string text = command->as_string()->get();
    if (text.empty()) {
      reader.fail_at(*command, "'command' in a run step must not be empty");
    }
    step.argv = {"/bin/sh", "-c", text};
  } else {
    step.argv = reader.string_array(table, "command", what).value_or(std::vector<std::string>{});
    if (step.argv.empty() || step.argv[0].empty()) {
      reader.fail_at(*command, "'command' in a run step must be a non-empty string or array");
    }
  }
  step.env = reader.string_map(table, "env", what).value_or(std::map<std::string, std::string>{});
  for (const auto& [k, v] : step.env) {
    if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos ||
        v.find('\0') != std::string::npos) {
      reader.fail_at(*table.get("env"), "environment variable \"" + k +
                                            "\" in a run step: names must be non-empty and "
                                            "hold no '=' or NUL");
    }
  }
  if (const auto workdir = reader.string(table, "workdir", what)) {
    step.workdir = normalise_image_path(*workdir, reader.at(*table.get("workdir")),
                                        "run 'workdir'", true);
  }
  step.user = reader.owner(table, "user", what).value_or(Owner{});
  step.network = optional_bool(reader, table, "network", what, false);
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
    {"debian", &parse_debian},
    {"fetch", &parse_fetch},
    {"run", &parse_run},
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
                                         "' (known: copy, file, fetch, debian, run)");
}

}  // namespace strata::builder::detail
