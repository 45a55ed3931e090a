// Building a recipe into an image in the store.
//
// For each layer in order (the `from` chain's layers first) the build plans the layer
// (steps.hpp), computes its cache key (cache_key.hpp) and looks it up in the store's build
// cache. A hit reuses the recorded blob; a miss streams the layer through the deterministic
// layer writer straight into a new store blob, commits it and only then records the cache
// entry, so a failed step leaves neither blob nor record. The image config and manifest are
// assembled (assemble.cpp), stored, and the image is tagged.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "builder/debian/fetch.hpp"
#include "builder/lock.hpp"
#include "builder/recipe.hpp"
#include "cache/store.hpp"
#include "oci/image.hpp"

namespace strata::builder {

/// One layer of a built image.
struct BuiltLayer {
  std::string key;  // cache key (hex)
  oci::Digest diff_id;
  oci::Digest digest;  // compressed blob
  std::uint64_t size = 0;
  std::string media_type;
  std::optional<std::uint64_t> uncompressed_size;  // known when built by this run
  bool cached = false;
  std::string created_by;    // history text
  std::int64_t created = 0;  // SOURCE_DATE_EPOCH of the recipe that defines the layer
  std::string recipe;        // name of the recipe that defines the layer
};

/// Progress report for one layer; `done` is false when work on it starts.
struct LayerProgress {
  std::size_t index = 0;  // 0-based over the whole image
  std::size_t count = 0;
  const BuiltLayer* layer = nullptr;  // set when done
  std::string description;            // created_by
  bool done = false;
};

struct BuildOptions {
  /// SOURCE_DATE_EPOCH from the environment (source_date_epoch_from_env()); see
  /// Recipe::effective_source_date_epoch for the order of precedence.
  std::optional<std::int64_t> env_source_date_epoch;
  /// Store tag "NAME[:TAG]"; empty = the recipe name. ":latest" when no tag is given.
  std::string tag;
  /// Called on the building thread before and after each layer. Optional.
  std::function<void(const LayerProgress&)> progress;
  /// The lock of the stack (builder/lock.hpp); required when the stack has debian layers,
  /// and it must agree with the recipe (lock_disagreement() empty). Not owned.
  const Lock* lock = nullptr;
  /// Mirror for .debs that are not in the store yet; empty: found when needed.
  std::string mirror;
  /// How .debs and fetch-step files are downloaded.
  debian::FetchOptions fetch;
  /// Receives the output of sandboxed commands (configure, run steps) as it comes.
  std::function<void(std::string_view)> on_output;
  /// Receives warnings (one line each, no newline), e.g. a foreign-architecture layer built
  /// extract-only. Optional.
  std::function<void(std::string_view)> on_warning;
  /// Extra manifest annotations of the built image (not of its parents), e.g.
  /// org.opencontainers.image.source / .revision from `strata build --source/--revision`.
  /// The lock's digest is added as dev.strata.lock.digest when a lock is used.
  std::map<std::string, std::string> annotations;
};

/// An assembled image: config and manifest documents with their digests.
struct AssembledImage {
  std::string config_json;
  oci::Digest config;
  std::string manifest_json;
  oci::Digest manifest;
};

struct BuildResult {
  std::string name;      // recipe name
  oci::Digest identity;  // recipe identity
  std::int64_t source_date_epoch = 0;
  std::vector<BuiltLayer> layers;
  AssembledImage image;
  std::string tag;  // "NAME:TAG" as stored
};

/// Builds `recipe` into `store` and tags it. Throws InvalidInput naming file:line:col for
/// step failures, IO for disk errors. Thread-safe only with distinct Recipe objects; the
/// store itself may be shared with other processes.
BuildResult build(const Recipe& recipe, cache::Store& store, const BuildOptions& options);

/// Assembles the config and manifest of `recipe` over `layers` (all of the image's layers,
/// the parent chain's first). `base` is the parent image's name and manifest digest when
/// the recipe has `from`. Pure function.
AssembledImage assemble_image(const Recipe& recipe, const std::vector<BuiltLayer>& layers,
                              std::int64_t source_date_epoch,
                              const std::optional<std::pair<std::string, oci::Digest>>& base,
                              const std::map<std::string, std::string>& extra_annotations = {});

/// The recipe's runtime config merged down its `from` chain (the child wins).
ConfigSpec effective_config(const Recipe& recipe);

/// The OCI runtime config for a merged ConfigSpec (env sorted by key as "K=V").
oci::RuntimeConfig runtime_config(const ConfigSpec& config);

/// Splits "NAME[:TAG]" (the tag is after the last ':' that follows the last '/'); the tag
/// defaults to "latest". Throws InvalidInput for an empty name or a malformed tag.
std::pair<std::string, std::string> split_name_tag(const std::string& text);

}  // namespace strata::builder
