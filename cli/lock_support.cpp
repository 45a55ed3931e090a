// Lock handling shared by build, lock and why (see lock_support.hpp).
#include "cli/lock_support.hpp"

#include <iostream>

#include "util/error.hpp"

namespace strata::cli {

void add_archive_flags(CLI::App* cmd, ArchiveFlags& flags) {
  cmd->add_flag("--allow-unsigned", flags.allow_unsigned,
                "Accept a Debian archive whose InRelease is unsigned or not signed by a trusted "
                "key (indexes and .debs are still hash-checked)");
  cmd->add_flag("--ignore-valid-until", flags.ignore_valid_until,
                "Accept a Release whose Valid-Until has passed (snapshot archives)");
}

builder::ArchiveSettings archive_settings(const ArchiveFlags& flags) {
  builder::ArchiveSettings s;
  s.allow_unsigned = flags.allow_unsigned;
  s.ignore_valid_until = flags.ignore_valid_until;
  return s;
}

std::optional<builder::Lock> lock_for_build(const builder::Recipe& recipe, cache::Store& store,
                                            const ArchiveFlags& flags, bool locked, bool quiet) {
  if (builder::debian_layers(recipe).empty()) {
    return std::nullopt;
  }
  const auto path = builder::lock_path_for(recipe.file);
  std::optional<builder::Lock> lock = builder::read_lock(path);
  if (lock) {
    const std::string why = builder::lock_disagreement(recipe, *lock);
    if (why.empty()) {
      return lock;
    }
    if (locked) {
      util::fail(util::ErrorKind::Conflict,
                 path.string() + " does not agree with " + recipe.file.string() + ": " + why +
                     ". --locked never resolves: run `strata lock " + recipe.file.string() +
                     "` and commit the new lock");
    }
  } else if (locked) {
    util::fail(util::ErrorKind::Conflict,
               recipe.file.string() + " installs Debian packages but has no lock (" +
                   path.string() + "); --locked never resolves: run `strata lock " +
                   recipe.file.string() + "` and commit the lock");
  }
  builder::LockRequest request;
  request.previous = lock;
  builder::StackResolution res =
      builder::resolve_stack(recipe, store, archive_settings(flags), request);
  builder::write_lock(path, res.lock);
  if (!quiet) {
    std::cerr << (lock ? "updated " : "wrote ") << path.string() << '\n';
  }
  return std::move(res.lock);
}

}  // namespace strata::cli
