// `strata plan [RECIPE]`: the image's layers before building: for each layer its recipe,
// kind and steps; for debian layers the locked packages with their .deb sizes and how the
// layer splits into parts under the layer budget (builder/layer_split.hpp).
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "builder/debian_stack.hpp"
#include "builder/layer_split.hpp"
#include "builder/lock.hpp"
#include "builder/recipe.hpp"
#include "builder/steps.hpp"
#include "cache/store.hpp"
#include "cli/app.hpp"
#include "cli/lock_support.hpp"

namespace strata::cli {
namespace {

namespace fs = std::filesystem;

struct PlanArgs {
  std::string recipe = ".";
  ArchiveFlags archive;
};

std::string mib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / 1048576.0);
  return buf;
}

void collect(const builder::Recipe& r, std::vector<std::pair<const builder::Recipe*, std::size_t>>& out) {
  if (r.parent) {
    collect(*r.parent, out);
  }
  for (std::size_t i = 0; i < r.layers.size(); ++i) {
    out.emplace_back(&r, i);
  }
}

void run_plan(const PlanArgs& args, const GlobalOptions& global) {
  const builder::Recipe recipe = builder::load_recipe(args.recipe);
  cache::Store store(global.store.empty() ? cache::Store::default_root() : fs::path(global.store));
  std::optional<builder::Lock> lock;
  bool lock_current = true;
  const auto debian = builder::debian_layers(recipe);
  if (!debian.empty()) {
    lock = builder::read_lock(builder::lock_path_for(recipe.file));
    if (!lock || !builder::lock_disagreement(recipe, *lock).empty()) {
      builder::LockRequest request;
      request.previous = lock;
      lock = builder::resolve_stack(recipe, store, archive_settings(args.archive), request).lock;
      lock_current = false;
    }
  }
  std::map<const builder::Layer*, const builder::LockedLayer*> locked;
  for (std::size_t i = 0; i < debian.size(); ++i) {
    locked[debian[i].layer] = &lock->layers[i];
  }
  std::vector<std::pair<const builder::Recipe*, std::size_t>> layers;
  collect(recipe, layers);
  const std::size_t room = builder::k_max_image_layers > layers.size()
                               ? builder::k_max_image_layers - layers.size()
                               : 1;
  nlohmann::json doc = nlohmann::json::array();
  std::size_t image_layers = 0;
  for (const auto& [r, index] : layers) {
    const builder::Layer& layer = r->layers[index];
    nlohmann::json j{{"recipe", r->name},
                     {"layer", builder::describe_layer(layer, index + 1)},
                     {"kind", std::any_of(layer.steps.begin(), layer.steps.end(),
                                          [](const builder::Step& s) { return builder::is_system_step(s); })
                                  ? "sandbox"
                                  : "files"}};
    std::size_t count = 1;
    if (const auto it = locked.find(&layer); it != locked.end()) {
      const builder::LockedLayer& l = *it->second;
      const auto parts = builder::split_packages(l, r->effective_layer_budget(), room);
      std::uint64_t total = 0;
      for (const auto& p : l.packages) {
        total += p.size;
      }
      j["packages"] = l.packages.size();
      j["deb_bytes"] = total;
      nlohmann::json jp = nlohmann::json::array();
      for (const auto& part : parts) {
        nlohmann::json names = nlohmann::json::array();
        for (std::size_t k : part.packages) {
          names.push_back(l.packages[k].name + " " + l.packages[k].version);
        }
        jp.push_back({{"deb_bytes", part.bytes}, {"packages", names}});
      }
      j["parts"] = jp;
      count = parts.size() > 1 ? parts.size() + 1 : 1;
    }
    j["image_layers"] = count;
    image_layers += count;
    doc.push_back(j);
  }
  if (global.json) {
    std::cout << nlohmann::json{{"layers", doc},
                                {"image_layers", image_layers},
                                {"lock_current", lock_current}}
                     .dump()
              << '\n';
    return;
  }
  std::size_t n = 0;
  for (const auto& j : doc) {
    std::cout << ++n << ". " << j["recipe"].get<std::string>() << ": "
              << j["layer"].get<std::string>() << '\n';
    if (j.contains("packages")) {
      std::cout << "   " << j["packages"].get<std::size_t>() << " packages, "
                << mib(j["deb_bytes"].get<std::uint64_t>()) << " of .debs";
      if (j["parts"].size() > 1) {
        std::cout << ", split into " << j["parts"].size() << " package parts + 1 configuration part";
      }
      std::cout << '\n';
      if (j["parts"].size() > 1) {
        std::size_t k = 0;
        for (const auto& part : j["parts"]) {
          std::cout << "   part " << ++k << ": " << part["packages"].size() << " packages, "
                    << mib(part["deb_bytes"].get<std::uint64_t>()) << '\n';
        }
      }
    }
  }
  std::cout << image_layers << " image layers" << (lock_current ? "" : " (the lock is not current: `strata lock` would change it)") << '\n';
}

}  // namespace

void register_plan(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<PlanArgs>();
  CLI::App* cmd = app.add_subcommand(
      "plan", "Show the image's layers, their packages and sizes, before building");
  cmd->add_option("RECIPE", args->recipe, "A strata.toml file or a directory (default: .)");
  add_archive_flags(cmd, args->archive);
  cmd->callback([args, &global] { run_plan(*args, global); });
}

}  // namespace strata::cli
