// `strata diff OLD.lock NEW.lock`: the Debian package changes between two locks, layer by
// layer (builder::diff_locks), one line per change (PACKAGE is NAME:ARCH, or NAME alone for
// Architecture: all packages):
//   + LAYER PACKAGE VERSION            added
//   - LAYER PACKAGE VERSION            removed
//   ~ LAYER PACKAGE OLD -> NEW         version changed
// With --json: {"changes": [{"layer", "name", "old_version", "new_version", "change"}],
// "archive": {"old", "new"}}. The exit status is 0 whether or not something changed.
#include <iostream>
#include <nlohmann/json.hpp>

#include "builder/lock.hpp"
#include "cli/app.hpp"
#include "util/error.hpp"

namespace strata::cli {
namespace {

struct DiffArgs {
  std::string before;
  std::string after;
};

builder::Lock load(const std::string& path) {
  std::optional<builder::Lock> lock = builder::read_lock(path);
  if (!lock) {
    util::fail(util::ErrorKind::NotFound,
               "lock file " + path + " does not exist (write one with `strata lock RECIPE`)");
  }
  return std::move(*lock);
}

std::string change_kind(const builder::LockChange& c) {
  if (c.old_version.empty()) {
    return "added";
  }
  return c.new_version.empty() ? "removed" : "changed";
}

std::string archive_text(const builder::Lock& lock) {
  if (!lock.archive) {
    return "";
  }
  return lock.archive->suite + " " + lock.archive->inrelease.str();
}

void run_diff(const DiffArgs& args, const GlobalOptions& global) {
  const builder::Lock before = load(args.before);
  const builder::Lock after = load(args.after);
  const std::vector<builder::LockChange> changes = builder::diff_locks(before, after);
  if (global.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& c : changes) {
      list.push_back({{"layer", c.layer},
                      {"name", c.name},
                      {"old_version", c.old_version},
                      {"new_version", c.new_version},
                      {"change", change_kind(c)}});
    }
    std::cout << nlohmann::json{{"changes", std::move(list)},
                                {"archive",
                                 {{"old", archive_text(before)}, {"new", archive_text(after)}}}}
                     .dump()
              << '\n';
    return;
  }
  if (archive_text(before) != archive_text(after)) {
    std::cout << "archive " << archive_text(before) << " -> " << archive_text(after) << '\n';
  }
  for (const auto& c : changes) {
    if (c.old_version.empty()) {
      std::cout << "+ " << c.layer << ' ' << c.name << ' ' << c.new_version << '\n';
    } else if (c.new_version.empty()) {
      std::cout << "- " << c.layer << ' ' << c.name << ' ' << c.old_version << '\n';
    } else {
      std::cout << "~ " << c.layer << ' ' << c.name << ' ' << c.old_version << " -> "
                << c.new_version << '\n';
    }
  }
  if (changes.empty() && !global.quiet) {
    std::cerr << "no package changes\n";
  }
}

}  // namespace

void register_diff(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<DiffArgs>();
  CLI::App* cmd =
      app.add_subcommand("diff", "Show the Debian package changes between two strata.lock files");
  cmd->add_option("OLD", args->before, "The earlier lock file")->required();
  cmd->add_option("NEW", args->after, "The later lock file")->required();
  cmd->callback([args, &global] { run_diff(*args, global); });
}

}  // namespace strata::cli
