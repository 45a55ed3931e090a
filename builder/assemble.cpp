// Image assembly: the OCI image config and manifest of a built recipe.
//
// Everything here is a pure function of the recipe chain, the layers and
// SOURCE_DATE_EPOCH, so two builds of the same inputs give the same config and manifest
// bytes (oci::to_json is stable). Manifest annotations start from strata's own
// (created, title, description, base image) and the recipe's merged annotations may
// override them, except dev.strata.recipe.digest, which always names the recipe identity.
#include "builder/build.hpp"
#include "builder/debian_stack.hpp"
#include "builder/host_arch.hpp"
#include "oci/media_types.hpp"

namespace strata::builder {

ConfigSpec effective_config(const Recipe& recipe) {
  if (!recipe.parent) {
    return recipe.config;
  }
  return recipe.config.merged_over(effective_config(*recipe.parent));
}

oci::RuntimeConfig runtime_config(const ConfigSpec& config) {
  oci::RuntimeConfig rc;
  for (const auto& [k, v] : config.env) {
    rc.env.push_back(k + "=" + v);
  }
  if (config.entrypoint) {
    rc.entrypoint = *config.entrypoint;
    rc.has_entrypoint = true;
  }
  if (config.cmd) {
    rc.cmd = *config.cmd;
    rc.has_cmd = true;
  }
  rc.working_dir = config.workdir.value_or("");
  rc.user = config.user.value_or("");
  rc.labels = config.labels;
  rc.exposed_ports = config.ports;
  return rc;
}

AssembledImage assemble_image(const Recipe& recipe, const std::vector<BuiltLayer>& layers,
                              std::int64_t source_date_epoch,
                              const std::optional<std::pair<std::string, oci::Digest>>& base,
                              const std::map<std::string, std::string>& extra_annotations) {
  const ConfigSpec spec = effective_config(recipe);
  // A Debian image is of its primary architecture (the first the recipe stack names);
  // anything else is of the machine that builds it.
  oci::Platform platform = oci::Platform::host();
  if (const auto debian = effective_debian_spec(recipe);
      debian && !debian->architectures.empty()) {
    platform = oci_platform_for(debian->architectures.front());
  }

  oci::ImageConfig config;
  config.created = oci::format_rfc3339(source_date_epoch);
  config.architecture = platform.architecture;
  config.os = platform.os;
  config.variant = platform.variant;
  config.config = runtime_config(spec);
  for (const auto& layer : layers) {
    config.diff_ids.push_back(layer.diff_id);
    oci::HistoryEntry h;
    h.created = oci::format_rfc3339(layer.created);
    h.created_by = layer.created_by;
    config.history.push_back(std::move(h));
  }

  AssembledImage out;
  out.config_json = oci::to_json(config);
  out.config = oci::Digest::of(out.config_json);

  oci::Manifest manifest;
  manifest.media_type = std::string(oci::media::k_oci_manifest);
  manifest.config.media_type = std::string(oci::media::k_oci_config);
  manifest.config.digest = out.config;
  manifest.config.size = static_cast<std::int64_t>(out.config_json.size());
  for (const auto& layer : layers) {
    oci::Descriptor d;
    d.media_type = layer.media_type;
    d.digest = layer.digest;
    d.size = static_cast<std::int64_t>(layer.size);
    manifest.layers.push_back(std::move(d));
  }
  auto& ann = manifest.annotations;
  ann["org.opencontainers.image.created"] = config.created;
  ann["org.opencontainers.image.title"] = recipe.name;
  if (!recipe.summary.empty()) {
    ann["org.opencontainers.image.description"] = recipe.summary;
  }
  if (base) {
    ann["org.opencontainers.image.base.name"] = base->first;
    ann["org.opencontainers.image.base.digest"] = base->second.str();
  }
  for (const auto& [k, v] : extra_annotations) {
    ann[k] = v;
  }
  for (const auto& [k, v] : spec.annotations) {
    ann[k] = v;
  }
  ann["dev.strata.recipe.digest"] = recipe_identity(recipe).str();
  out.manifest_json = oci::to_json(manifest);
  out.manifest = oci::Digest::of(out.manifest_json);
  return out;
}

}  // namespace strata::builder
