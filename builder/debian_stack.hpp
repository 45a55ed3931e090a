// The debian layers of a recipe stack, resolved together into a lock.
//
// A stack is a recipe with its `from` chain; its debian layers (bottom first) all resolve
// against one archive: the [debian] table merged down the chain (one suite, one set of
// architectures, the union of components). Resolution is done over the whole stack: first
// one resolution of every requested package together (one consistent package set), then
// layer by layer, each layer seeing the packages of the layers below as installed and the
// whole-stack choice as pins, so that every package lands in the lowest layer that asks for
// it and the layer prefix (base -> CUDA -> framework) is the same in every project that
// shares it. See docs/debian.md ("Locks").
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "builder/debian/fetch.hpp"
#include "builder/debian/resolver.hpp"
#include "builder/lock.hpp"
#include "builder/recipe.hpp"
#include "cache/store.hpp"

namespace strata::builder {

/// One debian layer of a stack. Points into the Recipe, which must outlive it.
struct DebianLayerRef {
  const Recipe* recipe = nullptr;
  const Layer* layer = nullptr;
  std::size_t index_in_recipe = 0;
  const DebianStep* step = nullptr;
  std::string layer_id;  // Layer::name, or "#N" (1-based position in its recipe)
  oci::Digest request;   // chained request digest (lock.hpp)
};

/// The debian layers of `top`'s stack, bottom first, with their request digests.
std::vector<DebianLayerRef> debian_layers(const Recipe& top);

/// The archive of `recipe`'s stack: the [debian] tables of the whole chain merged (suite
/// and architectures from the nearest recipe that sets them, components united, keyring
/// from the nearest that names one); nullopt when no recipe of the chain has one. Throws
/// InvalidInput when two recipes of the chain name different suites (a `use` can stack
/// recipes that were written apart).
std::optional<DebianSpec> effective_debian_spec(const Recipe& recipe);

/// The host's Debian architecture name ("amd64", "arm64", ...), from uname.
std::string host_debian_architecture();

/// How the archive is reached. Site configuration, never part of an image's identity.
struct ArchiveSettings {
  std::string mirror;            // empty: find_debian_mirror()
  bool allow_unsigned = false;   // --allow-unsigned
  bool ignore_valid_until = false;  // --ignore-valid-until (snapshot archives)
  std::optional<std::int64_t> now;  // Valid-Until clock (tests)
  std::string gpgv = "gpgv";
  debian::FetchOptions fetch;
};

/// What `strata lock` should move.
struct LockRequest {
  std::optional<Lock> previous;
  /// --update: re-resolve every layer; the previous versions stay pinned except for the
  /// packages named in `update_packages` (all of them when it is empty).
  bool update = false;
  std::vector<std::string> update_packages;
  /// Re-resolve every layer with all previous versions pinned (for `strata why`).
  bool reresolve_all = false;
};

/// A resolved stack.
struct StackResolution {
  Lock lock;
  /// Per debian layer (same order as debian_layers()): the resolution, when the layer was
  /// resolved in this call (layers kept verbatim from the previous lock have none).
  std::vector<std::optional<debian::Resolution>> resolutions;
  std::vector<std::string> notes;  // resolver notes, prefixed with the layer
  bool changed = false;            // differs from LockRequest::previous
};

/// Resolves the stack of `top` into a lock. Layers whose request digest matches the
/// previous lock are kept as they are (unless update or reresolve_all); the first layer that
/// disagrees and every layer above it are resolved again, with the previous versions as
/// pins. Opens (downloads and verifies) the archive only when something must be resolved.
/// Throws as debian::Archive::open and debian::resolve (the message names the layer).
StackResolution resolve_stack(const Recipe& top, cache::Store& store,
                              const ArchiveSettings& settings, const LockRequest& request);

/// Why `lock` cannot be used for `top` as it is ("" when it agrees): a debian layer without
/// an entry, an entry whose request differs, or entries for layers the stack does not have.
std::string lock_disagreement(const Recipe& top, const Lock& lock);


}  // namespace strata::builder
