#include "builder/build.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <filesystem>

#include "builder/cache_key.hpp"
#include "builder/deb_fetch_ahead.hpp"
#include "builder/fetch_step.hpp"
#include "builder/debian_stack.hpp"
#include "builder/host_arch.hpp"
#include "builder/input_digests.hpp"
#include "builder/layer_split.hpp"
#include "builder/phase_timer.hpp"
#include "builder/snapshot_adopt.hpp"
#include "builder/snapshots.hpp"
#include "builder/steps.hpp"
#include "builder/system_layer.hpp"
#include "util/fs.hpp"
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
  // The lock entry of each debian layer, by Layer address.
  std::map<const Layer*, const LockedLayer*> locked{};
  // The lock entries of the debian layers in stack order, and the downloads of those still
  // to build, started when the first one misses the cache (deb_fetch_ahead.hpp).
  std::vector<const LockedLayer*> debian_order{};
  std::unique_ptr<DebFetchAhead> fetch_ahead{};
};

// From the first debian layer that must be built on, the packages of it and of every debian
// layer above are downloaded on a background thread. Layers above one that is built have
// new cache keys too, except after a cache eviction; their .debs are then downloaded for
// nothing (they stay in the store for the next build).
void start_fetch_ahead(BuildContext& ctx, const Layer& layer) {
  const auto locked = ctx.locked.find(&layer);
  if (ctx.fetch_ahead || locked == ctx.locked.end()) {
    return;
  }
  const auto from = std::find(ctx.debian_order.begin(), ctx.debian_order.end(), locked->second);
  ctx.fetch_ahead = std::make_unique<DebFetchAhead>(
      ctx.store, ctx.options.mirror, ctx.options.fetch,
      std::vector<const LockedLayer*>(from, ctx.debian_order.end()));
}

bool is_system_layer(const Layer& layer) {
  return std::any_of(layer.steps.begin(), layer.steps.end(),
                     [](const Step& s) { return is_system_step(s); });
}

// What a system layer reads besides its definition: the locked .debs and the environment
// its run steps see.
std::vector<LayerInput> system_inputs(const BuildContext& ctx, const Recipe& recipe,
                                      const Layer& layer) {
  // Bumped whenever how strata installs, configures or normalises a system layer changes,
  // so that layers cached by an older strata are not reused for a different result.
  constexpr std::string_view k_system_layer_format = "strata.system-layer.v8";
  std::vector<LayerInput> inputs;
  inputs.push_back(LayerInput{"strata:system-layer-format",
                              oci::Digest::of(k_system_layer_format).hex(), 0, "format", ""});
  if (const auto it = ctx.locked.find(&layer); it != ctx.locked.end()) {
    for (const LockedPackage& p : it->second->packages) {
      inputs.push_back(LayerInput{"deb:" + p.name + "_" + p.version + "_" + p.architecture,
                                  p.sha256.hex(), 0, "deb", ""});
    }
  }
  // A layer whose programs this machine cannot run is built extract-only (host_arch.hpp):
  // another result than a configured one, so another key.
  if (const auto debian = effective_debian_spec(recipe); debian && !debian->architectures.empty()) {
    const ArchSupport exec = arch_support(debian->architectures.front(), binfmt_misc_dir());
    if (exec.execution == ArchExecution::Impossible) {
      inputs.push_back(LayerInput{"strata:extract-only", oci::Digest::of("extract-only").hex(), 0,
                                  "format", ""});
    }
  }
  const bool has_run = std::any_of(layer.steps.begin(), layer.steps.end(), [](const Step& s) {
    return std::holds_alternative<RunStep>(s);
  });
  if (has_run) {
    for (const auto& [k, v] : effective_config(recipe).env) {
      inputs.push_back(LayerInput{"env:" + k, oci::Digest::of(v).hex(), 0, "env", ""});
    }
  }
  std::sort(inputs.begin(), inputs.end());
  return inputs;
}

// With STRATA_TIMINGS: says that a written tree was not kept as its snapshot, and why (the
// layer above then unpacks it from the blob).
void report_not_adopted(const std::string& which, const std::string& why) {
  if (timings_enabled()) {
    std::fprintf(stderr, "strata: timing: layer %s's tree not kept as its snapshot: %s\n",
                 which.c_str(), why.c_str());
  }
}

// Builds a system layer (one or, split, several parts) into `outs` (keys and history set).
std::vector<BuiltLayer> build_system_layer(BuildContext& ctx, const Recipe& recipe,
                                           const Layer& layer, const std::vector<BuiltLayer>& below,
                                           std::vector<BuiltLayer> outs,
                                           const std::vector<LayerPart>& parts, std::int64_t sde,
                                           oci::Compression compression) {
  SystemLayerContext sys;
  sys.store = &ctx.store;
  PhaseTimer snapshots("snapshots of the layers below");
  for (auto it = below.rbegin(); it != below.rend(); ++it) {
    sys.lower_dirs.push_back(ensure_snapshot(ctx.store, it->diff_id, it->digest, it->media_type));
  }
  snapshots.stop();
  sys.source_date_epoch = sde;
  sys.mirror = ctx.options.mirror;
  sys.fetch = ctx.options.fetch;
  sys.on_output = ctx.options.on_output;
  sys.on_warning = ctx.options.on_warning;
  sys.await_debs = [&ctx](const LockedLayer& locked) {
    if (ctx.fetch_ahead) {
      ctx.fetch_ahead->await(locked);
    }
  };
  if (const auto debian = effective_debian_spec(recipe); debian && !debian->architectures.empty()) {
    sys.architecture = debian->architectures.front();
  }
  for (const auto& [k, v] : effective_config(recipe).env) {
    sys.base_env.push_back(k + "=" + v);
  }
  if (std::none_of(sys.base_env.begin(), sys.base_env.end(),
                   [](const std::string& e) { return e.starts_with("PATH="); })) {
    sys.base_env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  }
  // The upper dir lives beside the store's blobs: same filesystem as the snapshots, never
  // an overlay itself.
  const fs::path scratch_parent = ctx.store.root() / "tmp";
  fs::create_directories(scratch_parent);
  util::TempDir scratch("strata-layer", scratch_parent);
  const fs::path upper = scratch.path() / "upper";
  fs::create_directory(upper);
  ::chmod(upper.c_str(), 0755);
  const auto locked = ctx.locked.find(&layer);
  for (const Step& step : layer.steps) {
    if (const auto* d = std::get_if<DebianStep>(&step)) {
      if (locked == ctx.locked.end()) {
        util::fail(util::ErrorKind::Internal, d->location.str() + ": no lock entry for this layer");
      }
      apply_debian_step(sys, *d, *locked->second, upper);
    } else if (const auto* r = std::get_if<RunStep>(&step)) {
      apply_run_step(sys, *r, upper);
    }
  }
  std::vector<fs::path> trees{upper};
  if (!parts.empty()) {
    const auto split = split_tree(upper, sys.lower_dirs, *locked->second, parts, scratch.path());
    trees.insert(trees.end(), split.begin(), split.end());
  }
  oci::LayerOptions options;
  options.compression = compression;
  options.source_date_epoch = sde;
  options.overlay_whiteouts = true;
  // Rootless, only the caller is mapped (to 0:0): every file is root's inside the image.
  options.keep_owners = ::geteuid() == 0;
  for (std::size_t i = 0; i < trees.size(); ++i) {
    BuiltLayer& out = outs[i];
    PhaseTimer timer("write layer " + std::to_string(i + 1) + "/" + std::to_string(trees.size()));
    auto writer = ctx.store.begin_blob(oci::layer_media_type(compression));
    const oci::LayerResult result = oci::write_layer_from_dir(trees[i], options, writer);
    out.digest = writer.commit(result.digest);
    timer.stop();
    out.diff_id = result.diff_id;
    out.size = result.size;
    out.media_type =
        result.media_type.empty() ? oci::layer_media_type(compression) : result.media_type;
    out.uncompressed_size = result.uncompressed_size;
    out.cached = false;
    // A layer above will run on this one's snapshot: the tree just written (the whole
    // upper dir, or one part of a split layer) is made identical to that snapshot and kept
    // (snapshot_adopt.hpp) instead of being deleted now and unpacked again from the blob.
    const bool layer_above = ctx.next + 1 < ctx.total;
    if (layer_above) {
      const std::string which = std::to_string(i + 1) + "/" + std::to_string(trees.size());
      PhaseTimer adopt("keep layer " + which + "'s tree as its snapshot");
      std::string why;
      try {
        if (!adopt_as_snapshot(ctx.store, trees[i], out.diff_id, sde, &why)) {
          report_not_adopted(which, why);
        }
      } catch (const util::Error& e) {
        // Only a shortcut: the layer above unpacks the snapshot from the blob instead.
        report_not_adopted(which, e.what());
      }
    }
  }
  return outs;
}

std::size_t count_layers(const Recipe& recipe) {
  return recipe.layers.size() + (recipe.parent ? count_layers(*recipe.parent) : 0);
}

std::vector<BuiltLayer> build_layer(BuildContext& ctx, const Recipe& recipe, const Layer& layer,
                                    std::size_t index_in_recipe,
                                    const std::vector<BuiltLayer>& below, std::int64_t sde) {
  const std::string parent_key = below.empty() ? std::string() : below.back().key;
  const oci::Compression compression = recipe.effective_compression();
  BuiltLayer out;
  out.created_by = describe_layer(layer, index_in_recipe + 1);
  out.created = sde;
  out.recipe = recipe.name;
  LayerProgress progress{ctx.next, ctx.total, nullptr, out.created_by, false};
  if (ctx.options.progress) {
    ctx.options.progress(progress);
  }

  if (is_system_layer(layer)) {
    const std::string key =
        layer_cache_key(parent_key, layer, system_inputs(ctx, recipe, layer), sde, compression);
    std::vector<LayerPart> parts;
    if (const auto it = ctx.locked.find(&layer); it != ctx.locked.end()) {
      const std::size_t room =
          k_max_image_layers > ctx.total ? k_max_image_layers - ctx.total : std::size_t{1};
      auto split = split_packages(*it->second, recipe.effective_layer_budget(), room);
      if (split.size() > 1) {
        parts = std::move(split);
      }
    }
    std::vector<BuiltLayer> outs(parts.empty() ? 1 : parts.size() + 1, out);
    for (std::size_t i = 0; i < outs.size() && !parts.empty(); ++i) {
      const std::string n = std::to_string(outs.size());
      outs[i].key = oci::Digest::of(key + "/part-" + std::to_string(i + 1) + "-of-" + n).hex();
      outs[i].created_by =
          out.created_by + " [part " + std::to_string(i + 1) + "/" + n + ": " +
          (i == 0 ? std::string("configuration") : std::to_string(parts[i - 1].packages.size()) + " packages") + "]";
    }
    if (parts.empty()) {
      outs[0].key = key;
    }
    bool all_cached = true;
    for (BuiltLayer& o : outs) {
      if (auto hit = ctx.store.find_layer(o.key)) {
        o.diff_id = hit->diff_id;
        o.digest = hit->blob;
        o.size = hit->size;
        o.media_type = hit->media_type;
        o.cached = true;
      } else {
        all_cached = false;
      }
    }
    if (!all_cached) {
      start_fetch_ahead(ctx, layer);
      outs = build_system_layer(ctx, recipe, layer, below, std::move(outs), parts, sde, compression);
      for (const BuiltLayer& o : outs) {
        ctx.store.put_layer(cache::LayerRecord{o.key, o.diff_id, o.digest, o.size, o.media_type,
                                               o.created_by});
      }
    }
    for (const BuiltLayer& o : outs) {
      progress.layer = &o;
      progress.description = o.created_by;
      progress.done = true;
      if (ctx.options.progress) {
        ctx.options.progress(progress);
      }
    }
    ++ctx.next;
    return outs;
  }

  std::error_code ec;
  const auto context_dir = fs::canonical(recipe.dir.empty() ? fs::path(".") : recipe.dir, ec);
  if (!ec) {
    ctx.digests.preload(context_dir);
  }
  const InputHasher hasher = [&ctx](const fs::path& real, const struct stat& st) {
    return ctx.digests.digest(real, st);
  };
  const std::vector<LayerInput> inputs = plan_layer_inputs(recipe, layer, sde, hasher);
  ctx.digests.flush();
  out.key = layer_cache_key(parent_key, layer, inputs, sde, compression);
  if (auto hit = ctx.store.find_layer(out.key)) {
    out.diff_id = hit->diff_id;
    out.digest = hit->blob;
    out.size = hit->size;
    out.media_type = hit->media_type;
    out.cached = true;
  } else {
    FetchPlannerOptions fetch_options;
    fetch_options.fetch = ctx.options.fetch;
    fetch_options.scratch_parent = ctx.store.root() / "tmp";
    fs::create_directories(fetch_options.scratch_parent);
    FetchPlanner fetch(ctx.store, fetch_options);  // outlives the write: entries stream from it
    LayerPlan plan = plan_layer(recipe, layer, sde, hasher, &fetch);
    ctx.digests.flush();
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
  return {out};
}

bool explicit_source_date_epoch(const Recipe& recipe, const BuildOptions& options) {
  if (options.env_source_date_epoch) {
    return true;
  }
  for (const Recipe* r = &recipe; r != nullptr; r = r->parent.get()) {
    if (r->source_date_epoch) {
      return true;
    }
  }
  return false;
}

// SOURCE_DATE_EPOCH: the recipe's (or the environment's, or a parent's); else, for a stack
// with Debian packages, the Date of the archive they were locked from; else 0.
std::int64_t source_date_epoch_of(const Recipe& recipe, const BuildOptions& options) {
  if (!explicit_source_date_epoch(recipe, options) && options.lock != nullptr &&
      options.lock->archive) {
    return options.lock->archive->date_epoch;
  }
  return recipe.effective_source_date_epoch(options.env_source_date_epoch);
}

ImageBuild build_image(BuildContext& ctx, const Recipe& recipe, bool top) {
  ImageBuild img;
  std::optional<std::pair<std::string, oci::Digest>> base;
  if (recipe.parent) {
    ImageBuild parent = build_image(ctx, *recipe.parent, false);
    img.layers = std::move(parent.layers);
    base.emplace(recipe.parent->name, parent.image.manifest);
  }
  const std::int64_t sde = source_date_epoch_of(recipe, ctx.options);
  for (std::size_t i = 0; i < recipe.layers.size(); ++i) {
    std::vector<BuiltLayer> built = build_layer(ctx, recipe, recipe.layers[i], i, img.layers, sde);
    img.layers.insert(img.layers.end(), std::make_move_iterator(built.begin()),
                      std::make_move_iterator(built.end()));
  }
  std::map<std::string, std::string> extra;
  if (top) {
    extra = ctx.options.annotations;
    if (ctx.options.lock != nullptr && ctx.options.lock->archive) {
      extra["dev.strata.lock.digest"] = ctx.options.lock->digest().str();
    }
  }
  img.image = assemble_image(recipe, img.layers, sde, base, extra);
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
  const std::vector<DebianLayerRef> debian = debian_layers(recipe);
  if (!debian.empty()) {
    if (options.lock == nullptr) {
      util::fail(util::ErrorKind::InvalidInput,
                 recipe.file.string() + ": the recipe installs Debian packages; it needs a lock "
                 "(run `strata lock` first)");
    }
    const std::string why = lock_disagreement(recipe, *options.lock);
    if (!why.empty()) {
      util::fail(util::ErrorKind::Conflict, "the lock does not agree with " +
                                                recipe.file.string() + ": " + why +
                                                "; run `strata lock` to update it");
    }
    for (std::size_t i = 0; i < debian.size(); ++i) {
      ctx.locked[debian[i].layer] = &options.lock->layers[i];
      ctx.debian_order.push_back(&options.lock->layers[i]);
    }
  }
  ImageBuild img = build_image(ctx, recipe, true);
  if (img.layers.size() > k_max_image_layers) {
    util::fail(util::ErrorKind::InvalidInput,
               recipe.file.string() + ": the image would have " + std::to_string(img.layers.size()) +
                   " layers; at most " + std::to_string(k_max_image_layers) +
                   " are allowed (merge layers, or raise layer_budget)");
  }

  BuildResult result;
  result.name = recipe.name;
  result.identity = recipe_identity(recipe);
  result.source_date_epoch = source_date_epoch_of(recipe, options);
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
