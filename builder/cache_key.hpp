// Layer cache keys.
//
// A layer's key is the sha256 (hex) of the canonical JSON document
//   {"format": k_layer_format, "parent": PARENT_KEY, "layer": LAYER_DEFINITION,
//    "inputs": [[path, sha256, mode, type, link_target], ...],
//    "source_date_epoch": N, "compression": "zstd"|"gzip"}
// with object keys sorted. PARENT_KEY chains the keys: a layer's bytes do not depend on the
// layers below it, but its place in an image does, and chaining makes "rebuild this layer
// and everything above" fall out of the lookup. The first layer's parent key is "" (for a
// recipe with `from`, the parent recipe's last key). Bump k_layer_format whenever the layer
// writer's output for the same inputs changes, so old cache entries stop matching.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "builder/recipe.hpp"
#include "builder/steps.hpp"

namespace strata::builder {

/// Version of the layer format; part of every key.
inline constexpr std::string_view k_layer_format = "strata.layer.v1";

/// The canonical JSON that layer_cache_key() hashes (exposed for tests and `--debug` output).
std::string layer_cache_key_json(const std::string& parent_key, const Layer& layer,
                                 const std::vector<LayerInput>& inputs,
                                 std::int64_t source_date_epoch, oci::Compression compression);

/// Hex sha256 of layer_cache_key_json(). Pure function; thread-safe.
std::string layer_cache_key(const std::string& parent_key, const Layer& layer,
                            const std::vector<LayerInput>& inputs, std::int64_t source_date_epoch,
                            oci::Compression compression);

}  // namespace strata::builder
