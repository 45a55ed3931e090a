// `strata lock [RECIPE] [--update [PKG...]]`: resolve the stack's Debian packages and write
// strata.lock beside the recipe; prints what changed.
// `strata why PKG [RECIPE]`: which requested package pulled PKG in, relation by relation.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "builder/debian/sources.hpp"
#include "builder/debian_stack.hpp"
#include "builder/lock.hpp"
#include "builder/recipe.hpp"
#include "cache/store.hpp"
#include "cli/app.hpp"
#include "cli/lock_support.hpp"
#include "util/error.hpp"

namespace strata::cli {
namespace {

namespace fs = std::filesystem;

struct LockArgs {
  std::string recipe = ".";
  std::vector<std::string> update;
  CLI::Option* update_option = nullptr;
  bool check = false;
  ArchiveFlags archive;
};

void run_lock(const LockArgs& args, const GlobalOptions& global) {
  const builder::Recipe recipe = builder::load_recipe(args.recipe);
  cache::Store store(global.store.empty() ? cache::Store::default_root() : fs::path(global.store));
  const fs::path path = builder::lock_path_for(recipe.file);
  builder::LockRequest request;
  request.previous = builder::read_lock(path);
  request.update = args.update_option->count() > 0;
  request.update_packages = args.update;
  if (request.previous && request.update) {
    for (const auto& name : args.update) {
      bool found = false;
      for (const auto& l : request.previous->layers) {
        for (const auto& p : l.packages) {
          found = found || p.name == name;
        }
      }
      if (!found) {
        util::fail(util::ErrorKind::NotFound, "--update " + name + ": " + path.string() +
                                                  " pins no package of that name");
      }
    }
  }
  if (args.check) {
    if (!request.previous) {
      util::fail(util::ErrorKind::Conflict, path.string() + " does not exist");
    }
    const std::string why = builder::lock_disagreement(recipe, *request.previous);
    if (!why.empty()) {
      util::fail(util::ErrorKind::Conflict, path.string() + " does not agree with " +
                                                recipe.file.string() + ": " + why);
    }
    if (global.json) {
      std::cout << nlohmann::json{{"lock", path.string()}, {"agrees", true}}.dump() << '\n';
    } else {
      std::cout << path.string() << " agrees with " << recipe.file.string() << '\n';
    }
    return;
  }
  const builder::StackResolution res =
      builder::resolve_stack(recipe, store, archive_settings(args.archive), request);
  const auto changes =
      builder::diff_locks(request.previous.value_or(builder::Lock{}), res.lock);
  if (res.changed || !request.previous) {
    builder::write_lock(path, res.lock);
  }
  if (global.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& c : changes) {
      list.push_back({{"layer", c.layer}, {"package", c.name}, {"old", c.old_version},
                      {"new", c.new_version}});
    }
    std::size_t packages = 0;
    for (const auto& l : res.lock.layers) {
      packages += l.packages.size();
    }
    std::cout << nlohmann::json{{"lock", path.string()},
                                {"changed", res.changed},
                                {"layers", res.lock.layers.size()},
                                {"packages", packages},
                                {"digest", res.lock.digest().str()},
                                {"changes", std::move(list)},
                                {"notes", res.notes}}
                     .dump()
              << '\n';
    return;
  }
  for (const auto& note : res.notes) {
    std::cerr << "note: " << note << '\n';
  }
  for (const auto& c : changes) {
    if (c.old_version.empty()) {
      std::cout << "+ " << c.layer << "  " << c.name << " " << c.new_version << '\n';
    } else if (c.new_version.empty()) {
      std::cout << "- " << c.layer << "  " << c.name << " " << c.old_version << '\n';
    } else {
      std::cout << "~ " << c.layer << "  " << c.name << " " << c.old_version << " -> "
                << c.new_version << '\n';
    }
  }
  std::size_t packages = 0;
  for (const auto& l : res.lock.layers) {
    packages += l.packages.size();
  }
  std::cout << (res.changed ? "wrote " : "unchanged ") << path.string() << " ("
            << res.lock.layers.size() << " debian layer(s), " << packages << " packages)\n";
}

struct WhyArgs {
  std::string package;
  std::string recipe = ".";
  ArchiveFlags archive;
};

void run_why(const WhyArgs& args, const GlobalOptions& global) {
  const builder::Recipe recipe = builder::load_recipe(args.recipe);
  cache::Store store(global.store.empty() ? cache::Store::default_root() : fs::path(global.store));
  builder::LockRequest request;
  request.previous = builder::read_lock(builder::lock_path_for(recipe.file));
  request.reresolve_all = true;
  const builder::StackResolution res =
      builder::resolve_stack(recipe, store, archive_settings(args.archive), request);
  const auto layers = builder::debian_layers(recipe);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto& r = res.resolutions[i];
    if (!r || r->find(args.package) == nullptr) {
      continue;
    }
    const auto steps = builder::debian::explain(*r, args.package);
    const std::string layer = layers[i].recipe->name + "/" + layers[i].layer_id;
    if (global.json) {
      nlohmann::json chain = nlohmann::json::array();
      for (const auto& s : steps) {
        chain.push_back({{"package", s.name},
                         {"version", s.version},
                         {"architecture", s.architecture},
                         {"reason", std::string(builder::debian::reason_kind_name(s.reason.kind))},
                         {"parent", s.reason.parent},
                         {"relation", s.reason.relation}});
      }
      std::cout << nlohmann::json{{"package", args.package}, {"layer", layer}, {"chain", chain}}
                       .dump()
                << '\n';
    } else {
      std::cout << args.package << " is installed in layer " << layer << " because:\n"
                << builder::debian::format_explanation(steps);
    }
    return;
  }
  util::fail(util::ErrorKind::NotFound,
             "no debian layer of " + recipe.file.string() + " installs " + args.package);
}

}  // namespace

void register_lock(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<LockArgs>();
  CLI::App* cmd = app.add_subcommand(
      "lock", "Resolve the recipe stack's Debian packages and write strata.lock beside it");
  cmd->add_option("RECIPE", args->recipe, "A strata.toml file or a directory (default: .)");
  args->update_option =
      cmd->add_option("--update", args->update,
                      "Move the named packages to the newest versions the archive has (all "
                      "packages when none is named); everything else stays pinned")
          ->expected(0, -1);
  cmd->add_flag("--check", args->check,
                "Only check that the lock exists and agrees with the recipe (exit 8 if not)");
  add_archive_flags(cmd, args->archive);
  cmd->callback([args, &global] { run_lock(*args, global); });

  CLI::App* mirror = app.add_subcommand(
      "mirror", "Print the Debian mirror strata uses (STRATA_DEBIAN_MIRROR, else apt sources)");
  mirror->callback([&global] {
    const auto m = builder::debian::find_debian_mirror();
    if (global.json) {
      std::cout << nlohmann::json{{"uri", m.uri}, {"origin", m.origin}}.dump() << '\n';
    } else {
      std::cout << m.uri << '\n';
    }
  });

  auto why = std::make_shared<WhyArgs>();
  CLI::App* w = app.add_subcommand(
      "why", "Explain which requested package pulled a Debian package into the image");
  w->add_option("PACKAGE", why->package, "Package name, or NAME:ARCH")->required();
  w->add_option("RECIPE", why->recipe, "A strata.toml file or a directory (default: .)");
  add_archive_flags(w, why->archive);
  w->callback([why, &global] { run_why(*why, global); });
}

}  // namespace strata::cli
