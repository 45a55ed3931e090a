// `strata recipes list [--templates]`: the catalog recipes (or `init` templates), sorted.
// `strata recipes show NAME|FILE`: one recipe's stack, layers, steps and merged config.
// `strata init [DIR] [--template NAME] [--name NAME]`: a commented strata.toml for a new
// project, copied from the catalog's templates/ (builder/catalog.hpp).
#include <algorithm>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <type_traits>
#include <variant>

#include "builder/build.hpp"
#include "builder/catalog.hpp"
#include "builder/debian_stack.hpp"
#include "builder/lock.hpp"
#include "builder/recipe.hpp"
#include "cli/app.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace strata::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- helpers -----------------------------------------------------------------------

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    out += (out.empty() ? "" : std::string(sep)) + item;
  }
  return out;
}

std::string owner_text(const std::optional<builder::Owner>& owner) {
  return owner ? std::to_string(owner->uid) + ":" + std::to_string(owner->gid) : "0:0";
}

// One step as JSON: its type and what it installs or writes.
json step_json(const builder::Step& step) {
  return std::visit(
      [](const auto& s) -> json {
        using T = std::decay_t<decltype(s)>;
        json j;
        if constexpr (std::is_same_v<T, builder::DebianStep>) {
          j = {{"type", "debian"},
               {"packages", s.packages},
               {"priority", s.priority},
               {"recommends", s.recommends}};
        } else if constexpr (std::is_same_v<T, builder::CopyStep>) {
          j = {{"type", "copy"},
               {"src", s.src},
               {"dest", s.dest + (s.dest_is_dir ? "/" : "")},
               {"owner", owner_text(s.owner)}};
        } else if constexpr (std::is_same_v<T, builder::FileStep>) {
          j = {
              {"type", "file"}, {"path", s.path}, {"mode", s.mode}, {"owner", owner_text(s.owner)}};
        } else if constexpr (std::is_same_v<T, builder::FetchStep>) {
          j = {{"type", "fetch"},          {"url", s.url},
               {"digest", s.digest.str()}, {"dest", s.dest + (s.dest_is_dir ? "/" : "")},
               {"extract", s.extract},     {"strip_components", s.strip_components}};
        } else {
          j = {{"type", "run"},
               {"command", s.argv},
               {"network", s.network},
               {"user", std::to_string(s.user.uid) + ":" + std::to_string(s.user.gid)}};
        }
        j["location"] = s.location.str();
        return j;
      },
      step);
}

// One step for humans, on one line.
std::string step_text(const builder::Step& step) {
  return std::visit(
      [](const auto& s) -> std::string {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, builder::DebianStep>) {
          return "debian" + (s.priority == "none" ? "" : " (" + s.priority + ")") + ": " +
                 join(s.packages, " ");
        } else if constexpr (std::is_same_v<T, builder::CopyStep>) {
          return "copy " + s.src + " -> " + s.dest + (s.dest_is_dir ? "/" : "");
        } else if constexpr (std::is_same_v<T, builder::FileStep>) {
          return "file " + s.path;
        } else if constexpr (std::is_same_v<T, builder::FetchStep>) {
          return "fetch " + s.url + " (" + s.digest.str().substr(0, 19) + "...) -> " + s.dest +
                 (s.extract.empty() ? "" : " [" + s.extract + "]");
        } else {
          const bool shell = s.argv.size() == 3 && s.argv[0] == "/bin/sh" && s.argv[1] == "-c";
          return "run " + (shell ? s.argv[2] : join(s.argv, " ")) + (s.network ? " [network]" : "");
        }
      },
      step);
}

json config_json(const builder::ConfigSpec& c) {
  json j = json::object();
  j["env"] = c.env;
  j["entrypoint"] = c.entrypoint ? json(*c.entrypoint) : json(nullptr);
  j["cmd"] = c.cmd ? json(*c.cmd) : json(nullptr);
  j["workdir"] = c.workdir ? json(*c.workdir) : json(nullptr);
  j["user"] = c.user ? json(*c.user) : json(nullptr);
  j["labels"] = c.labels;
  j["annotations"] = c.annotations;
  j["ports"] = c.ports;
  return j;
}

// The stack of `top`, bottom recipe first (with `use`, the used recipes are in it).
std::vector<const builder::Recipe*> stack_of(const builder::Recipe& top) {
  std::vector<const builder::Recipe*> out;
  for (const builder::Recipe* r = &top; r != nullptr; r = r->parent.get()) {
    out.push_back(r);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// A recipe by catalog name, or by file/directory when `what` names an existing path.
builder::Recipe load_named(const std::string& what) {
  std::error_code ec;
  if (fs::exists(what, ec)) {
    return builder::load_recipe(what);
  }
  if (!builder::valid_catalog_name(what)) {
    util::fail(util::ErrorKind::NotFound,
               "\"" + what +
                   "\" is neither a file nor a catalog recipe name; see `strata "
                   "recipes list`");
  }
  return builder::load_recipe(builder::find_catalog_recipe(what));
}

// ---- recipes list -------------------------------------------------------------------

struct ListArgs {
  bool templates = false;
};

void run_list(const ListArgs& args, const GlobalOptions& global) {
  const auto entries = args.templates ? builder::list_templates() : builder::list_catalog();
  json out = json::array();
  std::size_t width = 0;
  std::vector<std::pair<std::string, std::string>> rows;  // name, summary or error
  for (const auto& e : entries) {
    json item{{"name", e.name}, {"file", e.file.string()}};
    std::string summary;
    try {
      const builder::Recipe r = builder::load_recipe(e.file);
      item["summary"] = r.summary;
      item["recipe"] = r.name;
      summary = r.summary;
    } catch (const util::Error& err) {
      // One broken file must not hide the rest of the catalog; it is shown with its error.
      item["error"] = {{"kind", util::kind_name(err.kind())}, {"message", err.what()}};
      summary = std::string("(error: ") + err.what() + ")";
    }
    out.push_back(std::move(item));
    width = std::max(width, e.name.size());
    rows.emplace_back(e.name, summary);
  }
  if (global.json) {
    std::cout << json{{args.templates ? "templates" : "recipes", std::move(out)}}.dump() << '\n';
    return;
  }
  if (rows.empty()) {
    std::cerr << "no " << (args.templates ? "templates" : "catalog recipes")
              << " found; add a catalog directory with --catalog DIR or STRATA_CATALOG\n";
    return;
  }
  for (const auto& [name, summary] : rows) {
    std::cout << name << std::string(width - name.size() + 2, ' ') << summary << '\n';
  }
}

// ---- recipes show -------------------------------------------------------------------

struct ShowArgs {
  std::string name;
};

void run_show(const ShowArgs& args, const GlobalOptions& global) {
  const builder::Recipe top = load_named(args.name);
  const auto stack = stack_of(top);
  const builder::ConfigSpec config = builder::effective_config(top);
  const auto debian = builder::effective_debian_spec(top);
  const fs::path lock_file = builder::lock_path_for(top.file);
  std::optional<builder::Lock> lock;
  try {
    lock = builder::read_lock(lock_file);
  } catch (const util::Error&) {
    lock.reset();  // `show` describes the recipe; `strata lock --check` judges the lock
  }
  std::size_t locked_packages = 0;
  for (const auto& l : lock ? lock->layers : std::vector<builder::LockedLayer>{}) {
    locked_packages += l.packages.size();
  }

  if (global.json) {
    json chain = json::array();
    json layers = json::array();
    for (const builder::Recipe* r : stack) {
      chain.push_back({{"name", r->name}, {"file", r->file.string()}, {"summary", r->summary}});
      for (std::size_t i = 0; i < r->layers.size(); ++i) {
        const builder::Layer& layer = r->layers[i];
        json steps = json::array();
        for (const auto& s : layer.steps) {
          steps.push_back(step_json(s));
        }
        layers.push_back({{"recipe", r->name},
                          {"layer", layer.name.empty() ? "#" + std::to_string(i + 1) : layer.name},
                          {"steps", std::move(steps)}});
      }
    }
    json j{{"name", top.name},
           {"summary", top.summary},
           {"file", top.file.string()},
           {"identity", builder::recipe_identity(top).str()},
           {"from", top.from},
           {"use", top.use},
           {"stack", std::move(chain)},
           {"layers", std::move(layers)},
           {"config", config_json(config)}};
    j["debian"] = debian ? json{{"suite", debian->suite},
                                {"components", debian->components},
                                {"architectures", debian->architectures}}
                         : json(nullptr);
    j["lock"] =
        lock ? json{{"file", lock_file.string()}, {"packages", locked_packages}} : json(nullptr);
    std::cout << j.dump() << '\n';
    return;
  }

  std::cout << top.name << "  (" << top.file.string() << ")\n";
  if (!top.summary.empty()) {
    std::cout << "  " << top.summary << '\n';
  }
  std::cout << "identity: " << builder::recipe_identity(top).str() << '\n';
  std::vector<std::string> names;
  for (const builder::Recipe* r : stack) {
    names.push_back(r->name);
  }
  std::cout << "stack:    " << join(names, " -> ") << "  (bottom first)\n";
  if (debian) {
    std::cout << "debian:   " << debian->suite << " [" << join(debian->components, " ") << "]\n";
  }
  std::cout << "lock:     "
            << (lock ? lock_file.string() + " (" + std::to_string(locked_packages) + " packages)"
                     : "none (run `strata lock`)")
            << '\n';
  std::cout << "layers:\n";
  for (const builder::Recipe* r : stack) {
    for (std::size_t i = 0; i < r->layers.size(); ++i) {
      const builder::Layer& layer = r->layers[i];
      std::cout << "  " << r->name << "/"
                << (layer.name.empty() ? "#" + std::to_string(i + 1) : layer.name) << '\n';
      for (const auto& s : layer.steps) {
        std::cout << "    " << step_text(s) << '\n';
      }
    }
  }
  std::cout << "config:\n";
  for (const auto& [k, v] : config.env) {
    std::cout << "  env " << k << "=" << v << '\n';
  }
  if (config.entrypoint) {
    std::cout << "  entrypoint " << json(*config.entrypoint).dump() << '\n';
  }
  if (config.cmd) {
    std::cout << "  cmd " << json(*config.cmd).dump() << '\n';
  }
  if (config.workdir) {
    std::cout << "  workdir " << *config.workdir << '\n';
  }
  if (config.user) {
    std::cout << "  user " << *config.user << '\n';
  }
  if (!config.ports.empty()) {
    std::cout << "  ports " << join(config.ports, " ") << '\n';
  }
  for (const auto& [k, v] : config.labels) {
    std::cout << "  label " << k << "=" << v << '\n';
  }
}

// ---- init ---------------------------------------------------------------------------

struct InitArgs {
  std::string dir = ".";
  std::string template_name = "scipy-jupyter";
  std::string name;
};

// A recipe name from a directory name: lower case, other characters become '-'.
std::string project_name_from(const fs::path& dir) {
  std::error_code ec;
  const fs::path abs = fs::weakly_canonical(fs::absolute(dir, ec), ec);
  std::string base = abs.filename().string();
  std::string out;
  for (const char c : base) {
    const char l = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    const bool ok =
        (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '.' || l == '_' || l == '-';
    out += ok ? l : '-';
  }
  while (!out.empty() && !((out.front() >= 'a' && out.front() <= 'z') ||
                           (out.front() >= '0' && out.front() <= '9'))) {
    out.erase(out.begin());
  }
  if (out.size() > 128) {
    out.resize(128);
  }
  return out.empty() ? "project" : out;
}

// The template text with the [recipe] name replaced (the first line `name = "..."`).
std::string with_name(const std::string& text, const std::string& name, const fs::path& file) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    if (text.compare(pos, 8, "name = \"") == 0) {
      return text.substr(0, pos) + "name = \"" + name + "\"" + text.substr(end);
    }
    pos = end + 1;
  }
  util::fail(util::ErrorKind::InvalidInput,
             file.string() + ": template has no line `name = \"...\"` to fill in");
}

void run_init(const InitArgs& args, const GlobalOptions& global) {
  const fs::path template_file = builder::find_template(args.template_name);
  const fs::path dir(args.dir);
  const fs::path target = dir / builder::k_recipe_file_name;
  std::error_code ec;
  if (fs::exists(target, ec) || fs::is_symlink(target, ec)) {
    util::fail(util::ErrorKind::Conflict,
               target.string() +
                   " already exists; strata init never overwrites it (remove "
                   "it, or pass another directory)");
  }
  const std::string name = args.name.empty() ? project_name_from(dir) : args.name;
  const std::string text = with_name(util::read_file(template_file), name, template_file);
  // Parse before writing: an invalid name or a template naming a missing catalog recipe is
  // reported now, and nothing is written.
  const builder::Recipe parsed = builder::parse_recipe(text, target);
  fs::create_directories(dir, ec);
  if (ec) {
    util::fail(util::ErrorKind::IO, "cannot create " + dir.string() + ": " + ec.message());
  }
  util::write_file_atomic(target, text);
  if (global.json) {
    std::cout << json{{"file", target.string()},
                      {"template", args.template_name},
                      {"name", parsed.name},
                      {"identity", builder::recipe_identity(parsed).str()}}
                     .dump()
              << '\n';
    return;
  }
  std::cout << "wrote " << target.string() << " (template " << args.template_name << ", recipe "
            << parsed.name << ")\n"
            << "next: edit it, then `strata lock " << dir.string() << "` and `strata build "
            << dir.string() << " --locked`\n";
}

}  // namespace

void register_recipes(CLI::App& app, GlobalOptions& global) {
  CLI::App* recipes = app.add_subcommand("recipes", "The recipe catalog: list and show recipes");
  recipes->require_subcommand(1);

  auto list = std::make_shared<ListArgs>();
  CLI::App* l = recipes->add_subcommand("list", "Every catalog recipe with its summary, sorted");
  l->add_flag("--templates", list->templates, "List the `strata init` templates instead");
  l->callback([list, &global] { run_list(*list, global); });

  auto show = std::make_shared<ShowArgs>();
  CLI::App* s = recipes->add_subcommand(
      "show", "A recipe's stack, layers with their steps, and merged config");
  s->add_option("NAME", show->name,
                "A catalog name (cuda/12.4-runtime), or a recipe file or directory")
      ->required();
  s->callback([show, &global] { run_show(*show, global); });

  auto init = std::make_shared<InitArgs>();
  CLI::App* i = app.add_subcommand(
      "init", "Write a commented strata.toml for a new project from a catalog template");
  i->add_option("DIR", init->dir, "Project directory, created if missing (default: .)");
  i->add_option("--template", init->template_name,
                "Template name (default: scipy-jupyter; see `strata recipes list --templates`)");
  i->add_option("--name", init->name, "Recipe name (default: the directory's name, lower-cased)");
  i->callback([init, &global] { run_init(*init, global); });
}

}  // namespace strata::cli
