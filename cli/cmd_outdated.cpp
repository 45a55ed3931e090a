// `strata outdated [RECIPE]`: the locked Debian packages for which the archive now offers a
// newer version.
//
// The archive is opened as `strata lock` opens it (the recipe's [debian] suite, the lock's
// components and architectures, the recipe's keyring, the site's mirror), but never pinned
// to the lock's InRelease: the point is to see what the mirror serves today. For every
// locked package the highest version of the same name and architecture in the archive is
// compared with the locked one in dpkg order (builder/debian/version.hpp). Nothing is
// changed; `strata lock --update` moves the lock.
#include <algorithm>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "builder/debian/archive.hpp"
#include "builder/debian/sources.hpp"
#include "builder/debian/version.hpp"
#include "builder/debian_stack.hpp"
#include "cli/app.hpp"
#include "cli/image_location.hpp"
#include "cli/lock_support.hpp"
#include "util/error.hpp"

namespace strata::cli {
namespace {

namespace debian = builder::debian;

struct OutdatedArgs {
  std::string recipe = ".";
  ArchiveFlags archive;
};

struct Outdated {
  std::string layer;
  std::string name;
  std::string architecture;
  std::string locked;
  std::string available;
};

void run_outdated(const OutdatedArgs& args, const GlobalOptions& global) {
  const builder::Recipe recipe = builder::load_recipe(args.recipe);
  const auto lock_file = builder::lock_path_for(recipe.file);
  const std::optional<builder::Lock> lock = builder::read_lock(lock_file);
  if (!lock) {
    util::fail(util::ErrorKind::NotFound,
               recipe.file.string() + " has no lock (" + lock_file.string() +
                   "); run `strata lock " + recipe.file.string() + "` first");
  }
  if (!lock->archive || lock->layers.empty()) {
    if (global.json) {
      std::cout << nlohmann::json{{"outdated", nlohmann::json::array()}, {"checked", 0}}.dump()
                << '\n';
    } else {
      std::cout << "no Debian packages are locked in " << lock_file.string() << '\n';
    }
    return;
  }
  const auto store = open_store(global);
  const builder::ArchiveSettings settings = archive_settings(args.archive);
  debian::ArchiveOptions options;
  options.mirror = settings.mirror.empty() ? debian::find_debian_mirror().uri : settings.mirror;
  options.suite = lock->archive->suite;
  options.components = lock->archive->components;
  options.architectures = lock->archive->architectures;
  if (const auto spec = builder::effective_debian_spec(recipe); spec && !spec->keyring.empty()) {
    options.keyrings = {spec->keyring};
  }
  options.gpgv = settings.gpgv;
  options.allow_unsigned = settings.allow_unsigned;
  options.ignore_valid_until = settings.ignore_valid_until;
  options.fetch = settings.fetch;
  const debian::Archive archive = debian::Archive::open(*store, options);

  // Newest version of each name:architecture in the archive.
  std::map<std::string, std::string> newest;
  for (const auto& p : archive.packages()) {
    auto [it, inserted] = newest.emplace(p.name + ":" + p.architecture, p.version);
    if (!inserted && debian::compare_versions(p.version, it->second) > 0) {
      it->second = p.version;
    }
  }
  std::vector<Outdated> out;
  std::size_t checked = 0;
  for (const auto& layer : lock->layers) {
    for (const auto& p : layer.packages) {
      ++checked;
      const auto it = newest.find(p.name + ":" + p.architecture);
      if (it != newest.end() && debian::compare_versions(it->second, p.version) > 0) {
        out.push_back({layer.recipe + "/" + layer.layer, p.name, p.architecture, p.version,
                       it->second});
      }
    }
  }

  if (global.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& o : out) {
      list.push_back({{"layer", o.layer},
                      {"name", o.name},
                      {"architecture", o.architecture},
                      {"locked", o.locked},
                      {"available", o.available}});
    }
    std::cout << nlohmann::json{{"outdated", std::move(list)},
                                {"checked", checked},
                                {"archive", archive.inrelease_digest().str()}}
                     .dump()
              << '\n';
    return;
  }
  if (out.empty()) {
    std::cout << "all " << checked << " locked packages are up to date\n";
    return;
  }
  std::size_t w_layer = 5;
  std::size_t w_name = 7;
  std::size_t w_locked = 6;
  for (const auto& o : out) {
    w_layer = std::max(w_layer, o.layer.size());
    w_name = std::max(w_name, o.name.size() + 1 + o.architecture.size());
    w_locked = std::max(w_locked, o.locked.size());
  }
  auto pad = [](const std::string& s, std::size_t w) { return s + std::string(w - s.size(), ' '); };
  std::cout << pad("LAYER", w_layer) << "  " << pad("PACKAGE", w_name) << "  "
            << pad("LOCKED", w_locked) << "  AVAILABLE\n";
  for (const auto& o : out) {
    std::cout << pad(o.layer, w_layer) << "  " << pad(o.name + ":" + o.architecture, w_name)
              << "  " << pad(o.locked, w_locked) << "  " << o.available << '\n';
  }
  if (!global.quiet) {
    std::cerr << out.size() << " of " << checked << " locked packages have newer versions; "
              << "`strata lock " << recipe.file.string() << " --update` moves the lock\n";
  }
}

}  // namespace

void register_outdated(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<OutdatedArgs>();
  CLI::App* cmd = app.add_subcommand(
      "outdated", "List locked Debian packages for which the archive has a newer version");
  cmd->add_option("RECIPE", args->recipe,
                  "A strata.toml file, or a directory holding one (default: .)");
  add_archive_flags(cmd, args->archive);
  cmd->callback([args, &global] { run_outdated(*args, global); });
}

}  // namespace strata::cli
