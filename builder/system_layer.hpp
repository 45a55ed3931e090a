// Building a layer from sandbox steps (debian, run): every step works on one overlay upper
// dir over the snapshots of the layers below, and that upper dir becomes the layer.
//
// A debian step installs its locked packages in-process (builder/debian/installer.hpp) into
// the upper dir, seeded with what the installer must see of the layers below (the
// merged-/usr links and the dpkg status file), then runs the image's own dpkg in the
// sandbox: each new package's preinst ("install"), then `dpkg --configure -a`, with a
// policy-rc.d that forbids service starts and debconf non-interactive. Finally everything
// that holds a time, a random id or host state is normalised (docs/debian-install.md).
// A run step runs its command in the sandbox on the same upper dir.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "builder/debian/fetch.hpp"
#include "builder/lock.hpp"
#include "builder/recipe.hpp"
#include "cache/store.hpp"

namespace strata::builder {

/// What the steps of one system layer share. The store must outlive it.
struct SystemLayerContext {
  cache::Store* store = nullptr;
  /// Snapshot dirs of the layers below, topmost first (overlay lowerdir order).
  std::vector<std::filesystem::path> lower_dirs;
  std::int64_t source_date_epoch = 0;
  /// Mirror for .debs missing from the store; empty: found when needed (sources.hpp).
  std::string mirror;
  debian::FetchOptions fetch;
  /// Environment of run steps before their own env (the image config's, "K=V").
  std::vector<std::string> base_env;
  /// Receives the sandboxed commands' output as it comes. Optional.
  std::function<void(std::string_view)> on_output;
  /// Receives warnings (one line each). Optional.
  std::function<void(std::string_view)> on_warning;
  /// The image's Debian architecture (the first of the stack's [debian] architectures);
  /// empty: the host's. Decides whether scripts and run steps can execute (host_arch.hpp).
  std::string architecture;
  /// Called with a debian step's lock entry before its .debs are looked up in the store:
  /// waits for downloads started ahead (deb_fetch_ahead.hpp). Optional.
  std::function<void(const LockedLayer&)> await_debs;
};

/// Installs and configures the packages of `locked` into `upper` (an existing directory,
/// possibly holding earlier steps' changes). Throws: Corruption / NotFound / Timeout from
/// fetching (naming the package and URL), InvalidInput naming the .deb for a bad package,
/// InvalidInput with the command output when a maintainer script fails; `upper` is then
/// in an undefined state and the caller removes it.
void apply_debian_step(const SystemLayerContext& ctx, const DebianStep& step,
                       const LockedLayer& locked, const std::filesystem::path& upper);

/// Runs a run step in the sandbox on `upper`. Throws as sandbox::run.
void apply_run_step(const SystemLayerContext& ctx, const RunStep& step,
                    const std::filesystem::path& upper);

/// Removes or normalises, inside `upper`, what package installation leaves that holds times,
/// random ids or host state (the list is in docs/debian-install.md).
void normalise_system_tree(const std::filesystem::path& upper, std::int64_t source_date_epoch);

}  // namespace strata::builder
