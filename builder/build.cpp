#include "builder/build.hpp"

#include <ctime>
#include <filesystem>

#include "builder/cache_key.hpp"
#include "builder/input_digests.hpp"
#include "builder/steps.hpp"
#include "oci/layer_writer.hpp"
#include "oci/media_types.hpp"
#include "util/error.hpp"

namespace strata::builder {
namespace {

namespace fs = std::filesystem;

struct ImageBuild {
  std::vector<BuiltLayer> layers;
  AssembledImage image;
};

struct BuildContext {
  cache::Store& store;
  const BuildOptions& options;
  std::size_t total = 0;
  std::size_t next = 0;
  InputDigests digests{store};
};

std::size_t count_layers(const Recipe& recipe) {
  return recipe.layers.size() + (recipe.parent ? count_layers(*recipe.parent) : 0);
}

BuiltLayer build_layer(BuildContext& ctx, const Recipe& recipe, const Layer& layer,
                       std::size_t index_in_recipe, const std::string& parent_key,
                       std::int64_t sde) {
  const oci::Compression compression = recipe.effective_compression();
  BuiltLayer out;
  out.created_by = describe_layer(layer, index_in_recipe + 1);
  out.created = sde;
  out.recipe = recipe.name;
  LayerProgress progress{ctx.next, ctx.total, nullptr, out.created_by, false};
  if (ctx.options.progress) {
    ctx.options.progress(progress);
  }

  std::error_code ec;
  const auto context_dir = fs::canonical(recipe.dir.empty() ? fs::path(".") : recipe.dir, ec);
  if (!ec) {
    ctx.digests.preload(context_dir);
  }
  LayerPlan plan = plan_layer(recipe, layer, sde, [&ctx](const fs::path& real, const struct stat& st) {
    return ctx.digests.digest(real, st);
  });
  ctx.digests.flush();
  out.key = layer_cache_key(parent_key, layer, plan.inputs, sde, compression);
  if (auto hit = ctx.store.find_layer(out.key)) {
    out.diff_id = hit->diff_id;
    out.digest = hit->blob;
    out.size = hit->size;
    out.media_type = hit->media_type;
    out.cached = true;
  } else {
    oci::LayerOptions options;
    options.compression = compression;
    options.source_date_epoch = sde;
    auto writer = ctx.store.begin_blob(oci::layer_media_type(compression));
    const oci::LayerResult result =
        oci::write_layer_from_entries(std::move(plan.entries), options, writer);
    out.digest = writer.commit(result.digest);
    out.diff_id = result.diff_id;
    out.size = result.size;
    out.media_type =
        result.media_type.empty() ? oci::layer_media_type(compression) : result.media_type;
    out.uncompressed_size = result.uncompressed_size;
    ctx.store.put_layer(cache::LayerRecord{out.key, out.diff_id, out.digest, out.size,
                                           out.media_type, out.created_by});
  }
  progress.layer = &out;
  progress.done = true;
  if (ctx.options.progress) {
    ctx.options.progress(progress);
  }
  ++ctx.next;
  return out;
}

ImageBuild build_image(BuildContext& ctx, const Recipe& recipe) {
  ImageBuild img;
  std::optional<std::pair<std::string, oci::Digest>> base;
  if (recipe.parent) {
    ImageBuild parent = build_image(ctx, *recipe.parent);
    img.layers = std::move(parent.layers);
    base.emplace(recipe.parent->name, parent.image.manifest);
  }
  const std::int64_t sde = recipe.effective_source_date_epoch(ctx.options.env_source_date_epoch);
  for (std::size_t i = 0; i < recipe.layers.size(); ++i) {
    const std::string parent_key = img.layers.empty() ? std::string() : img.layers.back().key;
    img.layers.push_back(build_layer(ctx, recipe, recipe.layers[i], i, parent_key, sde));
  }
  img.image = assemble_image(recipe, img.layers, sde, base);
  return img;
}

bool valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) {
    return false;
  }
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (!word(tag[0])) {
    return false;
  }
  for (char c : tag) {
    if (!word(c) && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::pair<std::string, std::string> split_name_tag(const std::string& text) {
  const auto slash = text.rfind('/');
  const auto colon = text.rfind(':');
  std::string name = text;
  std::string tag = "latest";
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    name = text.substr(0, colon);
    tag = text.substr(colon + 1);
  }
  if (name.empty() || name.find_first_of(" \t\n@") != std::string::npos) {
    util::fail(util::ErrorKind::InvalidInput,
               "image name \"" + text + "\" must be NAME or NAME:TAG (e.g. hello:latest)");
  }
  if (!valid_tag(tag)) {
    util::fail(util::ErrorKind::InvalidInput,
               "tag \"" + tag + "\" in \"" + text +
                   "\" must match [A-Za-z0-9_][A-Za-z0-9_.-]* (at most 128 characters)");
  }
  return {name, tag};
}

BuildResult build(const Recipe& recipe, cache::Store& store, const BuildOptions& options) {
  const auto [name, tag] = split_name_tag(options.tag.empty() ? recipe.name : options.tag);
  BuildContext ctx{store, options, count_layers(recipe), 0};
  ImageBuild img = build_image(ctx, recipe);

  BuildResult result;
  result.name = recipe.name;
  result.identity = recipe_identity(recipe);
  result.source_date_epoch = recipe.effective_source_date_epoch(options.env_source_date_epoch);
  result.layers = std::move(img.layers);
  result.image = std::move(img.image);
  const oci::Digest config =
      store.put_blob(result.image.config_json, std::string(oci::media::k_oci_config));
  const oci::Digest manifest =
      store.put_blob(result.image.manifest_json, std::string(oci::media::k_oci_manifest));
  if (config != result.image.config || manifest != result.image.manifest) {
    util::fail(util::ErrorKind::Internal,
               "store returned unexpected digests for image " + recipe.name);
  }
  result.tag = name + ":" + tag;
  store.set_tag(cache::TagRecord{result.tag, manifest, std::string(oci::media::k_oci_manifest),
                                 static_cast<std::int64_t>(std::time(nullptr))});
  return result;
}

}  // namespace strata::builder
