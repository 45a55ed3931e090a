// Turning a layer's steps into layer entries, and recording what they read.
//
// plan_layer() walks every copy source with lstat (symlinks are kept as symlinks, never
// followed below the source itself), hashes every file it will stream, and returns the
// entry list for oci::write_layer_from_entries together with the sorted list of inputs that
// goes into the layer's cache key. Ownership and times are normalised so that a layer
// depends only on content: owner 0:0 unless the step says otherwise, every mtime is the
// build's SOURCE_DATE_EPOCH, directories 0755, symlinks 0777, files 0755 when any execute
// bit is set in the build context and 0644 otherwise (unless the step gives a mode).
// Within a layer a later step replaces an earlier step's entry at the same path.
#pragma once

#include <sys/stat.h>

#include <compare>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "builder/recipe.hpp"
#include "oci/layer_writer.hpp"

namespace strata::builder {

/// One thing a layer reads from the build context, as recorded in its cache key.
struct LayerInput {
  std::string path;         // relative to the recipe directory, '/'-separated
  std::string sha256;       // hex of the content (files only)
  std::uint32_t mode = 0;   // normalised mode taken from the build context (files only)
  std::string type;         // "file", "dir", "symlink" or "fetch" (path "fetch:URL", sha256
                            // the pinned digest "sha256:..." or "sha512:...")
  std::string link_target;  // symlinks only
  auto operator<=>(const LayerInput&) const = default;
};

/// What building one layer needs: its entries and its inputs. Entries of files refer to
/// their source paths (streamed while writing), so a plan is cheap to hold.
struct LayerPlan {
  std::vector<oci::LayerEntry> entries;  // sorted by path, unique
  std::vector<LayerInput> inputs;        // sorted, unique
};

/// Resolves `src` (normalised, relative) inside `recipe_dir` and returns its real path.
/// Throws InvalidInput at `where` when it does not exist or resolves outside the recipe
/// directory (through ".." or a symlink).
std::filesystem::path resolve_copy_source(const std::filesystem::path& recipe_dir,
                                          const std::string& src, const SourceLocation& where);

/// Plans one layer of `recipe` (the recipe whose directory is the build context). Throws
/// InvalidInput naming the step (file:line:col) and the path for missing sources,
/// unsupported file types (sockets, devices) and conflicting paths; IO on read errors.
/// Computes the hex sha256 of a regular input file given its real path and lstat; the
/// default reads and hashes it, builds pass a cached one (builder/input_digests.hpp).
using InputHasher = std::function<std::string(const std::filesystem::path& real,
                                              const struct stat& st)>;

class FetchPlanner;  // builder/fetch_step.hpp

/// Fetch steps are downloaded (unless the store has them) and, when asked, extracted by
/// `fetch`, whose scratch files the returned entries may name: it must outlive the writing
/// of the layer. Without a planner a layer with a fetch step throws Unsupported.
LayerPlan plan_layer(const Recipe& recipe, const Layer& layer, std::int64_t source_date_epoch,
                     const InputHasher& hasher = {}, FetchPlanner* fetch = nullptr);

/// The inputs plan_layer() records for `layer` (its cache-key inputs), without building
/// the entries of fetch steps: nothing is downloaded and no FetchPlanner is needed, since a
/// fetch step's input is its URL and pinned digest. Copy sources are walked and hashed as
/// by plan_layer(). Throws as plan_layer(). For looking the layer up in the build cache
/// before deciding to build it.
std::vector<LayerInput> plan_layer_inputs(const Recipe& recipe, const Layer& layer,
                                          std::int64_t source_date_epoch,
                                          const InputHasher& hasher = {});

/// Human description of a step: "copy files/bin -> /usr/local/bin/", "file /etc/motd".
std::string describe_step(const Step& step);

/// History text of a layer: "strata: layer tools (copy files/bin -> /usr/local/bin/)".
/// Unnamed layers are named by their 1-based position in the recipe.
std::string describe_layer(const Layer& layer, std::size_t index);

}  // namespace strata::builder
