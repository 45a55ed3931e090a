// `strata build RECIPE [-o oci:DIR[:TAG] | -o docker-archive:FILE]... [--tag NAME[:TAG]]`
//
// Builds a recipe into the store, tags it, optionally exports it, and reports each layer as
// CACHED or BUILT. With --json, stdout carries one JSON document and nothing else.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "builder/build.hpp"
#include "builder/export.hpp"
#include "builder/recipe.hpp"
#include "builder/sbom.hpp"
#include "cache/store.hpp"
#include "cli/app.hpp"
#include "cli/image_location.hpp"
#include "cli/lock_support.hpp"
#include "cli/sbom_support.hpp"
#include "oci/layout.hpp"
#include "util/error.hpp"

namespace strata::cli {
namespace {

namespace fs = std::filesystem;

struct BuildArgs {
  std::string recipe;
  std::vector<std::string> outputs;
  std::string tag;
  bool locked = false;
  bool verbose = false;
  std::string source;
  std::string revision;
  ArchiveFlags archive;
  std::string push;  // --push REF: registry reference to push the image (and its SBOM) to
  RemoteOptions remote;
};

/// One parsed -o target.
struct Output {
  enum class Kind { Layout, DockerArchive } kind = Kind::Layout;
  fs::path path;
  std::string ref;  // layout ref name; empty = the image tag
  std::string text;
};

Output parse_output(const std::string& text) {
  Output out;
  out.text = text;
  if (text.starts_with("oci:")) {
    auto [dir, ref] = oci::split_layout_ref(text.substr(4));
    out.kind = Output::Kind::Layout;
    out.path = dir;
    out.ref = ref;
  } else if (text.starts_with("docker-archive:")) {
    out.kind = Output::Kind::DockerArchive;
    out.path = text.substr(15);
  } else {
    util::fail(util::ErrorKind::InvalidInput,
               "output \"" + text + "\" must be oci:DIR[:TAG] or docker-archive:FILE");
  }
  if (out.path.empty()) {
    util::fail(util::ErrorKind::InvalidInput, "output \"" + text + "\" names no path");
  }
  return out;
}

std::string human_size(std::uint64_t bytes) {
  static constexpr const char* k_units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (v >= 1024.0 && unit + 1 < std::size(k_units)) {
    v /= 1024.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.1f %s", v, k_units[unit]);
  return buf;
}

void run_build(const BuildArgs& args, const GlobalOptions& global) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<Output> outputs;
  for (const auto& text : args.outputs) {
    outputs.push_back(parse_output(text));
  }
  const builder::Recipe recipe = builder::load_recipe(args.recipe);
  cache::Store store(global.store.empty() ? cache::Store::default_root() : fs::path(global.store));

  const std::optional<builder::Lock> lock =
      lock_for_build(recipe, store, args.archive, args.locked, global.quiet);
  builder::BuildOptions options;
  options.lock = lock ? &*lock : nullptr;
  if (args.verbose) {
    options.on_output = [](std::string_view text) { std::cerr << text << std::flush; };
  }
  options.on_warning = [](std::string_view text) {
    std::cerr << "strata: warning: " << text << "\n" << std::flush;
  };
  options.env_source_date_epoch = builder::source_date_epoch_from_env();
  if (!args.source.empty()) {
    options.annotations["org.opencontainers.image.source"] = args.source;
  }
  if (!args.revision.empty()) {
    options.annotations["org.opencontainers.image.revision"] = args.revision;
  }
  options.tag = args.tag;
  const bool human = !global.json;
  const bool progress = global.progress();
  options.progress = [&](const builder::LayerProgress& p) {
    if (!p.done) {
      if (progress) {
        std::cerr << "\r\033[K[" << (p.index + 1) << "/" << p.count << "] " << p.description
                  << std::flush;
      }
      return;
    }
    if (progress) {
      std::cerr << "\r\033[K" << std::flush;
    }
    if (human) {
      std::cout << (p.layer->cached ? "CACHED " : "BUILT  ") << p.layer->digest.str() << "  "
                << human_size(p.layer->size) << "  " << p.description << '\n'
                << std::flush;
    }
  };
  const builder::BuildResult result = builder::build(recipe, store, options);

  const std::string tag_part = builder::split_name_tag(result.tag).second;
  std::map<oci::Digest, std::uint64_t> sizes;
  for (const auto& layer : result.layers) {
    if (layer.uncompressed_size) {
      sizes[layer.diff_id] = *layer.uncompressed_size;
    }
  }
  nlohmann::json written = nlohmann::json::array();
  nlohmann::json sboms = nlohmann::json::array();
  std::optional<builder::SbomInventory> sbom;
  auto inventory = [&]() -> const builder::SbomInventory& {
    if (!sbom) {
      sbom = builder::collect_inventory(recipe, lock ? &*lock : nullptr, result);
    }
    return *sbom;
  };
  for (const auto& out : outputs) {
    if (out.kind == Output::Kind::Layout) {
      const std::string ref = out.ref.empty() ? tag_part : out.ref;
      builder::export_oci_layout(store, result.image.manifest, out.path, ref);
      written.push_back("oci:" + out.path.string() + ":" + ref);
      if (lock) {  // SBOMs beside the layout (docs/sbom.md)
        for (const auto& file : write_sboms(out.path, inventory())) {
          sboms.push_back(file.string());
        }
      }
    } else {
      builder::export_docker_archive(store, result.image.manifest, out.path, {result.tag},
                                     result.source_date_epoch, sizes);
      written.push_back("docker-archive:" + out.path.string());
    }
  }

  nlohmann::json pushed;
  if (!args.push.empty()) {  // the image, then its SPDX SBOM as a referrer (docs/sbom.md)
    ImageLocation src;
    src.kind = ImageLocation::Kind::Store;
    src.text = result.tag;
    src.store_name = result.tag;
    const ImageLocation dst = parse_location(args.push, true);
    const CopyResult copied = copy_image(src, dst, global, args.remote, {});
    oci::Descriptor subject;
    subject.media_type = copied.media_type;
    subject.digest = copied.digest;
    subject.size = static_cast<std::int64_t>(result.image.manifest_json.size());
    auto client = make_client(dst.reference.registry, args.remote);
    const oci::Digest referrer =
        push_sbom_referrer(*client, dst.reference.repository, subject,
                           builder::spdx_json(inventory()), result.source_date_epoch);
    pushed = {{"reference", args.push}, {"digest", copied.digest.str()},
              {"sbom", referrer.str()}};
  }

  if (global.json) {
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& layer : result.layers) {
      layers.push_back({{"key", layer.key},
                        {"diff_id", layer.diff_id.str()},
                        {"digest", layer.digest.str()},
                        {"size", layer.size},
                        {"media_type", layer.media_type},
                        {"created_by", layer.created_by},
                        {"cached", layer.cached}});
    }
    const nlohmann::json doc{{"manifest", result.image.manifest.str()},
                             {"config", result.image.config.str()},
                             {"recipe", result.identity.str()},
                             {"layers", std::move(layers)},
                             {"tag", result.tag},
                             {"outputs", std::move(written)},
                             {"sboms", sboms},
                             {"pushed", std::move(pushed)}};
    std::cout << doc.dump() << '\n';
    return;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "manifest " << result.image.manifest.str() << '\n';
  std::cout << "tagged   " << result.tag << '\n';
  for (const auto& w : written) {
    std::cout << "wrote    " << w.get<std::string>() << '\n';
  }
  for (const auto& w : sboms) {
    std::cout << "wrote    " << w.get<std::string>() << '\n';
  }
  if (!pushed.is_null()) {
    std::cout << "pushed   " << args.push << "@" << pushed["digest"].get<std::string>() << '\n';
    std::cout << "sbom     " << pushed["sbom"].get<std::string>() << '\n';
  }
  if (!global.quiet) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f", seconds);
    std::cerr << "built " << result.name << " in " << buf << "s\n";
  }
}

}  // namespace

void register_build(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<BuildArgs>();
  CLI::App* cmd = app.add_subcommand("build", "Build a recipe into an image in the store");
  cmd->add_option("RECIPE", args->recipe, "A strata.toml file, or a directory holding one")
      ->required();
  cmd->add_option("-o,--output", args->outputs,
                  "Also write the image to oci:DIR[:TAG] (OCI layout) or docker-archive:FILE "
                  "(docker load); may be repeated");
  cmd->add_option("-t,--tag", args->tag,
                  "Store tag NAME[:TAG] (default: the recipe name, tag latest)");
  cmd->add_flag("--locked", args->locked,
                "Build exactly what strata.lock pins; fail (never resolve) when the lock is "
                "missing or does not agree with the recipe. What CI should run");
  cmd->add_option("--source", args->source,
                  "Annotate the image with its source (org.opencontainers.image.source), e.g. "
                  "the repository URL");
  cmd->add_option("--revision", args->revision,
                  "Annotate the image with its source revision (org.opencontainers.image.revision)");
  cmd->add_flag("-v,--verbose", args->verbose,
                "Print the output of sandboxed commands (package configuration, run steps)");
  add_archive_flags(cmd, args->archive);
  cmd->add_option("--push", args->push,
                  "Also push the image to [docker://]HOST/REPO[:TAG], with its SPDX SBOM "
                  "attached as an OCI referrer");
  add_remote_options(*cmd, args->remote);
  cmd->callback([args, &global] { run_build(*args, global); });
}

}  // namespace strata::cli
