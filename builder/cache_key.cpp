#include "builder/cache_key.hpp"

#include <nlohmann/json.hpp>

#include "util/hash.hpp"

namespace strata::builder {

std::string layer_cache_key_json(const std::string& parent_key, const Layer& layer,
                                 const std::vector<LayerInput>& inputs,
                                 std::int64_t source_date_epoch, oci::Compression compression) {
  using nlohmann::json;
  json in = json::array();
  for (const auto& input : inputs) {
    in.push_back(
        json::array({input.path, input.sha256, input.mode, input.type, input.link_target}));
  }
  const json doc{
      {"format", k_layer_format},
      {"parent", parent_key},
      {"layer", json::parse(layer_definition_json(layer))},
      {"inputs", std::move(in)},
      {"source_date_epoch", source_date_epoch},
      {"compression", compression_name(compression)},
  };
  return doc.dump();
}

std::string layer_cache_key(const std::string& parent_key, const Layer& layer,
                            const std::vector<LayerInput>& inputs, std::int64_t source_date_epoch,
                            oci::Compression compression) {
  return util::hash_hex(
      layer_cache_key_json(parent_key, layer, inputs, source_date_epoch, compression));
}

}  // namespace strata::builder
