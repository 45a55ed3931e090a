// Recipe parsing: the [recipe], [[layer]] and [config] tables, and the `from` chain.
// Parent recipes are loaded recursively relative to the child's directory; a chain that
// comes back to a file already in it is an error (a cycle would never end).
#include "builder/recipe.hpp"

#include <charconv>
#include <cstdlib>
#include <set>

#include "builder/recipe_toml.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace strata::builder {
namespace fs = std::filesystem;
using detail::TomlReader;

namespace {
std::vector<fs::path>& extra_catalog_dirs() {
  static std::vector<fs::path> dirs;
  return dirs;
}
}  // namespace

void set_catalog_dirs(std::vector<fs::path> dirs) {
  extra_catalog_dirs() = std::move(dirs);
}

std::vector<fs::path> catalog_dirs() {
  std::vector<fs::path> candidates = extra_catalog_dirs();
  if (const char* env = std::getenv("STRATA_CATALOG"); env != nullptr) {
    std::string_view list(env);
    while (!list.empty()) {
      const auto colon = list.find(':');
      const std::string_view item = list.substr(0, colon);
      if (!item.empty()) {
        candidates.emplace_back(std::string(item));
      }
      list = colon == std::string_view::npos ? std::string_view() : list.substr(colon + 1);
    }
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path().parent_path() / "share/strata/recipes");
  }
#ifdef STRATA_INSTALLED_CATALOG
  candidates.emplace_back(STRATA_INSTALLED_CATALOG);
#endif
#ifdef STRATA_SOURCE_CATALOG
  candidates.emplace_back(STRATA_SOURCE_CATALOG);
#endif
  std::vector<fs::path> out;
  std::set<std::string> seen;
  for (const fs::path& c : candidates) {
    const fs::path canon = fs::weakly_canonical(c, ec);
    if (!ec && fs::is_directory(canon, ec) && seen.insert(canon.string()).second) {
      out.push_back(canon);
    }
  }
  return out;
}

fs::path find_catalog_recipe(std::string_view name) {
  const bool valid = !name.empty() && name.size() <= 200 && name.front() != '/' &&
                     name.find("..") == std::string_view::npos &&
                     name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-/") ==
                         std::string_view::npos;
  if (!valid) {
    util::fail(util::ErrorKind::InvalidInput,
               "catalog recipe name \"" + std::string(name) +
                   "\" must look like \"cuda/12.4-runtime\" (lower-case, digits, . _ - /)");
  }
  std::string searched;
  for (const fs::path& dir : catalog_dirs()) {
    const fs::path file = dir / (std::string(name) + ".toml");
    std::error_code ec;
    if (fs::is_regular_file(file, ec)) {
      return file;
    }
    searched += (searched.empty() ? "" : ", ") + dir.string();
  }
  util::fail(util::ErrorKind::NotFound,
             "catalog recipe \"" + std::string(name) + "\" not found (searched: " +
                 (searched.empty() ? std::string("no catalog directory exists") : searched) +
                 "); add a directory with --catalog DIR or STRATA_CATALOG, or see `strata "
                 "recipes list`");
}

std::string SourceLocation::str() const {
  if (line == 0) {
    return file;
  }
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

const SourceLocation& step_location(const Step& step) {
  return std::visit([](const auto& s) -> const SourceLocation& { return s.location; }, step);
}

bool is_system_step(const Step& step) {
  return std::holds_alternative<DebianStep>(step) || std::holds_alternative<RunStep>(step);
}

ConfigSpec ConfigSpec::merged_over(const ConfigSpec& base) const {
  ConfigSpec out = base;
  for (const auto& [k, v] : env) {
    out.env[k] = v;
  }
  for (const auto& [k, v] : labels) {
    out.labels[k] = v;
  }
  for (const auto& [k, v] : annotations) {
    out.annotations[k] = v;
  }
  if (entrypoint) {
    out.entrypoint = entrypoint;
  }
  if (cmd) {
    out.cmd = cmd;
  }
  if (workdir) {
    out.workdir = workdir;
  }
  if (user) {
    out.user = user;
  }
  std::set<std::string> ports_set(out.ports.begin(), out.ports.end());
  ports_set.insert(ports.begin(), ports.end());
  out.ports.assign(ports_set.begin(), ports_set.end());
  return out;
}

std::uint64_t Recipe::effective_layer_budget() const {
  if (layer_budget) {
    return *layer_budget;
  }
  return parent ? parent->effective_layer_budget() : (512ULL << 20);
}

oci::Compression Recipe::effective_compression() const {
  if (compression) {
    return *compression;
  }
  return parent ? parent->effective_compression() : oci::Compression::Zstd;
}

std::int64_t Recipe::effective_source_date_epoch(std::optional<std::int64_t> env_value) const {
  if (source_date_epoch) {
    return *source_date_epoch;
  }
  if (env_value) {
    return *env_value;
  }
  return parent ? parent->effective_source_date_epoch(env_value) : 0;
}

std::string_view compression_name(oci::Compression compression) {
  switch (compression) {
    case oci::Compression::Zstd:
      return "zstd";
    case oci::Compression::Gzip:
      return "gzip";
    case oci::Compression::None:
      return "none";
  }
  return "zstd";
}

std::int64_t parse_source_date_epoch(std::string_view text, std::string_view what) {
  std::int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 10);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || v < 0) {
    util::fail(util::ErrorKind::InvalidInput,
               std::string(what) + " must be a non-negative number of seconds since 1970 (got \"" +
                   std::string(text) + "\")");
  }
  return v;
}

std::optional<std::int64_t> source_date_epoch_from_env() {
  const char* value = std::getenv("SOURCE_DATE_EPOCH");
  if (value == nullptr || *value == '\0') {
    return std::nullopt;
  }
  return parse_source_date_epoch(value, "the SOURCE_DATE_EPOCH environment variable");
}

namespace {

bool valid_recipe_name(std::string_view name) {
  if (name.empty() || name.size() > 128) {
    return false;
  }
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_alnum(name[0])) {
    return false;
  }
  for (char c : name) {
    if (!lower_alnum(c) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

std::string normalise_port(const TomlReader& reader, const toml::node& where,
                           const std::string& text) {
  std::string_view number = text;
  std::string proto = "tcp";
  if (const auto slash = text.find('/'); slash != std::string::npos) {
    number = std::string_view(text).substr(0, slash);
    proto = text.substr(slash + 1);
  }
  unsigned port = 0;
  const auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), port, 10);
  if (number.empty() || ec != std::errc() || ptr != number.data() + number.size() || port == 0 ||
      port > 65535 || (proto != "tcp" && proto != "udp")) {
    reader.fail_at(
        where, "port \"" + text + "\" must be \"N\", \"N/tcp\" or \"N/udp\" with N in 1..65535");
  }
  return std::to_string(port) + "/" + proto;
}

ConfigSpec parse_config(const TomlReader& reader, const toml::table& table) {
  constexpr std::string_view what = "[config]";
  reader.check_keys(
      table, {"env", "entrypoint", "cmd", "workdir", "user", "labels", "annotations", "ports"},
      what);
  ConfigSpec config;
  if (auto env = reader.string_map(table, "env", what)) {
    for (const auto& [k, v] : *env) {
      if (k.empty() || k.find('=') != std::string::npos) {
        reader.fail_at(*table.get("env"), "environment variable name \"" + k +
                                              "\" in [config] must be non-empty and without '='");
      }
    }
    config.env = std::move(*env);
  }
  config.entrypoint = reader.string_array(table, "entrypoint", what);
  config.cmd = reader.string_array(table, "cmd", what);
  if (auto workdir = reader.string(table, "workdir", what)) {
    config.workdir = detail::normalise_image_path(*workdir, reader.at(*table.get("workdir")),
                                                  "'workdir' in [config]", true);
  }
  if (auto user = reader.string(table, "user", what)) {
    if (user->empty()) {
      reader.fail_at(*table.get("user"), "'user' in [config] must not be empty");
    }
    config.user = std::move(user);
  }
  config.labels = reader.string_map(table, "labels", what).value_or(config.labels);
  config.annotations = reader.string_map(table, "annotations", what).value_or(config.annotations);
  if (auto ports = reader.string_array(table, "ports", what)) {
    std::set<std::string> unique;
    const auto& array = *table.get("ports")->as_array();
    for (std::size_t i = 0; i < ports->size(); ++i) {
      unique.insert(normalise_port(reader, *array.get(i), (*ports)[i]));
    }
    config.ports.assign(unique.begin(), unique.end());
  }
  return config;
}

const DebianSpec* inherited_debian(const Recipe* recipe) {
  for (; recipe != nullptr; recipe = recipe->parent.get()) {
    if (recipe->debian) {
      return &*recipe->debian;
    }
  }
  return nullptr;
}

DebianSpec parse_debian_spec(const TomlReader& reader, const toml::table& table,
                             const Recipe* parent) {
  constexpr std::string_view what = "[debian]";
  reader.check_keys(table, {"suite", "components", "architectures", "keyring"}, what);
  const DebianSpec* base = inherited_debian(parent);
  DebianSpec spec;
  spec.location = reader.at(table);
  spec.suite = reader.string(table, "suite", what).value_or(base ? base->suite : "");
  if (spec.suite.empty() || spec.suite.find_first_of("/ \t") != std::string::npos) {
    reader.fail_at(table, "[debian] needs 'suite' (a codename such as \"bookworm\" or "
                          "\"trixie\"), without '/' or spaces");
  }
  if (base != nullptr && base->suite != spec.suite) {
    reader.fail_at(*table.get("suite"), "'suite' \"" + spec.suite +
                                            "\" differs from the parent recipe's \"" +
                                            base->suite + "\" (" + base->location.str() +
                                            "): one stack resolves against one suite");
  }
  std::set<std::string> components;
  if (base != nullptr) {
    components.insert(base->components.begin(), base->components.end());
  }
  const auto own = reader.string_array(table, "components", what);
  if (own) {
    for (const auto& c : *own) {
      if (c.empty() || c.find_first_of(" /\t") != std::string::npos) {
        reader.fail_at(*table.get("components"), "component \"" + c + "\" is not a name");
      }
      components.insert(c);
    }
  }
  if (components.empty()) {
    components.insert("main");
  }
  spec.components.assign(components.begin(), components.end());
  spec.architectures =
      reader.string_array(table, "architectures", what).value_or(std::vector<std::string>{});
  if (spec.architectures.empty() && base != nullptr) {
    spec.architectures = base->architectures;
  }
  if (base != nullptr && !base->architectures.empty() && spec.architectures != base->architectures) {
    reader.fail_at(*table.get("architectures"),
                   "'architectures' differ from the parent recipe's (" + base->location.str() +
                       "): one stack resolves for one set of architectures");
  }
  if (auto keyring = reader.string(table, "keyring", what)) {
    const fs::path dir = reader.file().empty() ? fs::path(".") : fs::path(reader.file()).parent_path();
    spec.keyring = fs::path(*keyring).is_absolute() ? *keyring : (dir / *keyring).lexically_normal().string();
  } else if (base != nullptr) {
    spec.keyring = base->keyring;
  }
  return spec;
}

Layer parse_layer(const TomlReader& reader, const toml::table& table, const fs::path& dir) {
  constexpr std::string_view what = "a [[layer]]";
  reader.check_keys(table, {"name", "step"}, what);
  Layer layer;
  layer.location = reader.at(table);
  if (auto name = reader.string(table, "name", what)) {
    if (name->empty() || name->size() > 128 ||
        name->find_first_of("\n\r\t()") != std::string::npos) {
      reader.fail_at(*table.get("name"),
                     "layer name \"" + *name +
                         "\" must be 1 to 128 characters without tabs, newlines or parentheses");
    }
    layer.name = std::move(*name);
  }
  const toml::node* steps = table.get("step");
  if (steps == nullptr) {
    reader.fail_at(table, "a [[layer]] needs at least one [[layer.step]]");
  }
  if (!steps->is_array_of_tables()) {
    reader.fail_at(*steps, "'step' in a [[layer]] must be written as [[layer.step]] tables, not " +
                               std::string(detail::type_name(*steps)));
  }
  for (const auto& item : *steps->as_array()) {
    layer.steps.push_back(detail::parse_step(reader, *item.as_table(), dir));
  }
  if (layer.steps.empty()) {
    reader.fail_at(table, "a [[layer]] needs at least one [[layer.step]]");
  }
  const Step* first_system = nullptr;
  const Step* first_file = nullptr;
  const Step* debian = nullptr;
  for (const Step& step : layer.steps) {
    const Step*& first = is_system_step(step) ? first_system : first_file;
    if (first == nullptr) {
      first = &step;
    }
    if (std::holds_alternative<DebianStep>(step)) {
      if (debian != nullptr) {
        reader.fail_at(step_location(step),
                       "a [[layer]] holds at most one debian step (the first is at " +
                           step_location(*debian).str() + "); list all its packages there");
      }
      debian = &step;
    }
  }
  if (first_system != nullptr && first_file != nullptr) {
    reader.fail_at(step_location(*first_file),
                   "this layer mixes file steps (copy, file, fetch) with sandbox steps (debian, "
                   "run, first at " +
                       step_location(*first_system).str() +
                       "); put them in separate [[layer]] tables");
  }
  return layer;
}

fs::path recipe_file_of(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return (path / k_recipe_file_name).lexically_normal();
  }
  return path.lexically_normal();
}

std::string canonical_key(const fs::path& file) {
  std::error_code ec;
  auto canon = fs::weakly_canonical(file, ec);
  return ec ? file.string() : canon.string();
}

Recipe parse_with_chain(std::string_view text, const fs::path& file, std::set<std::string>& chain);

Recipe load_with_chain(const fs::path& path, std::set<std::string>& chain);

// `use = [...]`: each catalog recipe, with its own `from` chain, is stacked on top of what is
// below (the `from` parent, then the recipes used before it). A recipe already in the stack
// (the shared base, say) is not repeated: the used recipe's layers go onto the stack as it
// is. Each used recipe keeps its layers and config; its place in the stack (its parent)
// changes, so its identity and layer keys follow what is below it.
std::shared_ptr<const Recipe> stack_used_recipes(const TomlReader& reader, const toml::node& at,
                                                 std::shared_ptr<const Recipe> top,
                                                 const std::vector<std::string>& names) {
  std::set<std::string> included;
  for (const Recipe* r = top.get(); r != nullptr; r = r->parent.get()) {
    included.insert(canonical_key(r->file));
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    const toml::node& where = *at.as_array()->get(i);
    fs::path file;
    try {
      file = find_catalog_recipe(names[i]);
    } catch (const util::Error& e) {
      reader.fail_at(where, e.what());
    }
    std::set<std::string> chain;
    const Recipe used = load_with_chain(file, chain);
    std::vector<const Recipe*> line;
    for (const Recipe* r = &used; r != nullptr; r = r->parent.get()) {
      line.push_back(r);
    }
    for (auto it = line.rbegin(); it != line.rend(); ++it) {
      if (!included.insert(canonical_key((*it)->file)).second) {
        continue;
      }
      auto copy = std::make_shared<Recipe>(**it);
      copy->parent = top;
      top = std::move(copy);
    }
  }
  return top;
}

Recipe load_with_chain(const fs::path& path, std::set<std::string>& chain) {
  const fs::path file = recipe_file_of(path);
  std::string text;
  try {
    text = util::read_file(file);
  } catch (const util::Error& e) {
    if (e.kind() == util::ErrorKind::NotFound) {
      util::fail(util::ErrorKind::NotFound,
                 "recipe " + file.string() +
                     " not found: pass a strata.toml file or a directory "
                     "holding one");
    }
    throw;
  }
  return parse_with_chain(text, file, chain);
}

Recipe parse_with_chain(std::string_view text, const fs::path& file_in,
                        std::set<std::string>& chain) {
  const fs::path file = file_in.lexically_normal();
  const TomlReader reader(file.string());
  if (!chain.insert(canonical_key(file)).second) {
    util::fail(util::ErrorKind::InvalidInput,
               file.string() + ": `from` chain comes back to this recipe (a cycle)");
  }
  toml::table doc;
  try {
    doc = toml::parse(text, file.string());
  } catch (const toml::parse_error& e) {
    reader.fail_at(reader.at(e.source()), std::string(e.description()));
  }

  Recipe recipe;
  recipe.file = file;
  recipe.dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
  reader.check_keys(doc, {"recipe", "layer", "config", "debian"}, "the recipe file");

  const toml::node* head = doc.get("recipe");
  if (head == nullptr) {
    reader.fail_at(SourceLocation{file.string(), 1, 1},
                   "missing the [recipe] table (it needs at least name = \"...\")");
  }
  if (!head->is_table()) {
    reader.fail_at(*head, "'recipe' must be a table, not " + std::string(detail::type_name(*head)));
  }
  const toml::table& rt = *head->as_table();
  constexpr std::string_view what = "[recipe]";
  reader.check_keys(rt,
                    {"name", "from", "use", "summary", "source_date_epoch", "compression",
                     "layer_budget"},
                    what);
  if (auto budget = reader.integer(rt, "layer_budget", what)) {
    if (*budget < 4096) {
      reader.fail_at(*rt.get("layer_budget"),
                     "'layer_budget' in [recipe] is a size in bytes (at least 4096; default "
                     "536870912 = 512 MiB)");
    }
    recipe.layer_budget = static_cast<std::uint64_t>(*budget);
  }
  recipe.location = reader.at(rt);
  recipe.name = reader.required_string(rt, "name", what);
  if (!valid_recipe_name(recipe.name)) {
    reader.fail_at(*rt.get("name"),
                   "recipe name \"" + recipe.name +
                       "\" must match [a-z0-9][a-z0-9._-]* (at most 128 characters)");
  }
  recipe.summary = reader.string(rt, "summary", what).value_or("");
  if (auto sde = reader.integer(rt, "source_date_epoch", what)) {
    if (*sde < 0) {
      reader.fail_at(*rt.get("source_date_epoch"), "'source_date_epoch' in [recipe] must be >= 0");
    }
    recipe.source_date_epoch = *sde;
  }
  if (auto comp = reader.string(rt, "compression", what)) {
    if (*comp == "zstd") {
      recipe.compression = oci::Compression::Zstd;
    } else if (*comp == "gzip") {
      recipe.compression = oci::Compression::Gzip;
    } else {
      reader.fail_at(
          *rt.get("compression"),
          "'compression' in [recipe] must be \"zstd\" or \"gzip\" (got \"" + *comp + "\")");
    }
  }
  if (auto from = reader.string(rt, "from", what)) {
    recipe.from = *from;
    const SourceLocation where = reader.at(*rt.get("from"));
    if (from->empty()) {
      reader.fail_at(where, "'from' in [recipe] must name a parent recipe file");
    }
    const fs::path parent_path =
        fs::path(*from).is_absolute() ? fs::path(*from) : recipe.dir / *from;
    fs::path parent_file = recipe_file_of(parent_path);
    std::error_code ec;
    if (!fs::exists(parent_file, ec)) {
      // Not a file beside the recipe: a catalog name ("base/debian-trixie").
      const bool catalog_like = !from->ends_with(".toml") && !fs::path(*from).is_absolute() &&
                                !from->starts_with(".");
      if (!catalog_like) {
        reader.fail_at(where, "parent recipe \"" + *from + "\" not found (looked for " +
                                  parent_file.string() + ")");
      }
      try {
        parent_file = find_catalog_recipe(*from);
      } catch (const util::Error& e) {
        reader.fail_at(where, "parent recipe \"" + *from + "\" is neither a file (looked for " +
                                  parent_path.string() + ") nor a catalog recipe: " + e.what());
      }
    }
    recipe.parent = std::make_shared<const Recipe>(load_with_chain(parent_file, chain));
  }
  if (const auto use = reader.string_array(rt, "use", what)) {
    recipe.use = *use;
    recipe.parent = stack_used_recipes(reader, *rt.get("use"), recipe.parent, *use);
  }

  if (const toml::node* debian = doc.get("debian")) {
    if (!debian->is_table()) {
      reader.fail_at(*debian,
                     "'debian' must be a table, not " + std::string(detail::type_name(*debian)));
    }
    recipe.debian = parse_debian_spec(reader, *debian->as_table(), recipe.parent.get());
  }

  if (const toml::node* layers = doc.get("layer")) {
    if (!layers->is_array_of_tables()) {
      reader.fail_at(*layers, "'layer' must be written as [[layer]] tables, not " +
                                  std::string(detail::type_name(*layers)));
    }
    for (const auto& item : *layers->as_array()) {
      recipe.layers.push_back(parse_layer(reader, *item.as_table(), recipe.dir));
    }
    const DebianSpec* archive =
        recipe.debian ? &*recipe.debian : inherited_debian(recipe.parent.get());
    for (const Layer& layer : recipe.layers) {
      for (const Step& step : layer.steps) {
        if (std::holds_alternative<DebianStep>(step) && archive == nullptr) {
          reader.fail_at(step_location(step),
                         "a debian step needs a [debian] table with 'suite' in this recipe or "
                         "in a recipe it derives from (`from`)");
        }
      }
    }
  }
  if (const toml::node* config = doc.get("config")) {
    if (!config->is_table()) {
      reader.fail_at(*config,
                     "'config' must be a table, not " + std::string(detail::type_name(*config)));
    }
    recipe.config = parse_config(reader, *config->as_table());
  }
  return recipe;
}

}  // namespace

Recipe load_recipe(const fs::path& path) {
  std::set<std::string> chain;
  return load_with_chain(path, chain);
}

Recipe parse_recipe(std::string_view text, const fs::path& file) {
  std::set<std::string> chain;
  return parse_with_chain(text, file, chain);
}

}  // namespace strata::builder
