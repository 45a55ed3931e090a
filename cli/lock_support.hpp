// What `build`, `lock` and `why` share about locks and the Debian archive.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>

#include "builder/debian_stack.hpp"
#include "builder/lock.hpp"
#include "builder/recipe.hpp"
#include "cache/store.hpp"

namespace strata::cli {

/// Archive trust flags. Plain value.
struct ArchiveFlags {
  bool allow_unsigned = false;
  bool ignore_valid_until = false;
};

/// Adds --allow-unsigned and --ignore-valid-until to `cmd`.
void add_archive_flags(CLI::App* cmd, ArchiveFlags& flags);

/// Archive settings from the flags and the environment (STRATA_DEBIAN_MIRROR, else apt).
builder::ArchiveSettings archive_settings(const ArchiveFlags& flags);

/// The lock a build of `recipe` uses. No debian layer: nullopt. Otherwise the recipe's lock
/// file when it agrees with the recipe; with `locked` a missing or disagreeing lock is a
/// Conflict error (nothing is resolved); without it the stack is resolved (keeping what
/// still agrees), the lock file written, and a line printed on stderr unless `quiet`.
std::optional<builder::Lock> lock_for_build(const builder::Recipe& recipe, cache::Store& store,
                                            const ArchiveFlags& flags, bool locked, bool quiet);

}  // namespace strata::cli
