// The canonical form of recipes and layer definitions.
//
// Canonical JSON is nlohmann::json dumped compactly: object keys sorted bytewise, integers
// in decimal, strings UTF-8 with JSON escapes. Only parsed, normalised values appear
// (modes as integers, paths normalised, ports normalised and sorted, maps sorted), never
// source locations or the TOML text, so reformatting a recipe keeps its identity. The
// parent recipe appears as its identity digest, which makes the identity cover the whole
// `from` chain. "format" versions the shape: change it whenever the meaning of a field
// changes so old identities do not collide with new ones.
#include <nlohmann/json.hpp>

#include "builder/recipe.hpp"

namespace strata::builder {
namespace {

using nlohmann::json;

constexpr std::string_view k_recipe_format = "strata.recipe.v1";

json owner_json(const std::optional<Owner>& owner) {
  if (!owner) {
    return nullptr;
  }
  return std::to_string(owner->uid) + ":" + std::to_string(owner->gid);
}

json step_json(const Step& step) {
  return std::visit(
      [](const auto& s) -> json {
        using T = std::decay_t<decltype(s)>;
        json j;
        if constexpr (std::is_same_v<T, CopyStep>) {
          j["type"] = "copy";
          j["src"] = s.src;
          j["dest"] = s.dest;
          j["dest_is_dir"] = s.dest_is_dir;
          j["mode"] = s.mode ? json(*s.mode) : json(nullptr);
          j["owner"] = owner_json(s.owner);
        } else if constexpr (std::is_same_v<T, FileStep>) {
          j["type"] = "file";
          j["path"] = s.path;
          j["content"] = s.content;
          j["mode"] = s.mode;
          j["owner"] = owner_json(s.owner);
        } else if constexpr (std::is_same_v<T, DebianStep>) {
          j["type"] = "debian";
          j["packages"] = s.packages;
          j["priority"] = s.priority;
          j["recommends"] = s.recommends;
        } else if constexpr (std::is_same_v<T, FetchStep>) {
          j["type"] = "fetch";
          j["url"] = s.url;
          j["digest"] = s.digest.str();
          j["dest"] = s.dest;
          j["dest_is_dir"] = s.dest_is_dir;
          j["extract"] = s.extract;
          j["strip_components"] = s.strip_components;
          j["mode"] = s.mode ? json(*s.mode) : json(nullptr);
          j["owner"] = owner_json(s.owner);
        } else if constexpr (std::is_same_v<T, RunStep>) {
          j["type"] = "run";
          j["argv"] = s.argv;
          j["env"] = s.env;
          j["workdir"] = s.workdir;
          j["user"] = owner_json(s.user);
          j["network"] = s.network;
        }
        return j;
      },
      step);
}

json layer_json(const Layer& layer) {
  json steps = json::array();
  for (const auto& step : layer.steps) {
    steps.push_back(step_json(step));
  }
  return json{{"name", layer.name}, {"steps", std::move(steps)}};
}

json optional_strings(const std::optional<std::vector<std::string>>& v) {
  return v ? json(*v) : json(nullptr);
}

json config_json(const ConfigSpec& c) {
  return json{
      {"env", c.env},
      {"entrypoint", optional_strings(c.entrypoint)},
      {"cmd", optional_strings(c.cmd)},
      {"workdir", c.workdir ? json(*c.workdir) : json(nullptr)},
      {"user", c.user ? json(*c.user) : json(nullptr)},
      {"labels", c.labels},
      {"annotations", c.annotations},
      {"ports", c.ports},
  };
}

}  // namespace

std::string layer_definition_json(const Layer& layer) {
  return layer_json(layer).dump();
}

std::string canonical_json(const Recipe& recipe) {
  json layers = json::array();
  for (const auto& layer : recipe.layers) {
    layers.push_back(layer_json(layer));
  }
  json j{
      {"format", k_recipe_format},
      {"name", recipe.name},
      {"summary", recipe.summary},
      {"source_date_epoch",
       recipe.source_date_epoch ? json(*recipe.source_date_epoch) : json(nullptr)},
      {"compression",
       recipe.compression ? json(compression_name(*recipe.compression)) : json(nullptr)},
      {"from", recipe.parent ? json(recipe_identity(*recipe.parent).str()) : json(nullptr)},
      {"layers", std::move(layers)},
      {"config", config_json(recipe.config)},
  };
  if (recipe.layer_budget) {
    j["layer_budget"] = *recipe.layer_budget;
  }
  if (recipe.debian) {
    // Present only when written, so recipes without [debian] keep their identity.
    j["debian"] = json{{"suite", recipe.debian->suite},
                       {"components", recipe.debian->components},
                       {"architectures", recipe.debian->architectures},
                       {"keyring", recipe.debian->keyring}};
  }
  return j.dump();
}

oci::Digest recipe_identity(const Recipe& recipe) {
  return oci::Digest::of(canonical_json(recipe));
}

}  // namespace strata::builder
