// `strata sbom RECIPE [--format spdx|cyclonedx] [-o FILE] [-t NAME[:TAG]]`
//
// Prints (or writes) the SBOM of the image a recipe builds. The image is built with the
// recipe's lock exactly as `strata build --locked` would (all cache hits when it was built
// before), so the SBOM always describes the image that the recipe and lock give, and a
// missing or disagreeing lock is an error instead of a silent re-resolution.
#include <iostream>
#include <nlohmann/json.hpp>

#include "builder/build.hpp"
#include "builder/sbom.hpp"
#include "cli/app.hpp"
#include "cli/image_location.hpp"
#include "cli/lock_support.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace strata::cli {
namespace {

struct SbomArgs {
  std::string recipe;
  std::string format = "spdx";
  std::string output;
  std::string tag;
  ArchiveFlags archive;
};

void run_sbom(const SbomArgs& args, const GlobalOptions& global) {
  const builder::Recipe recipe = builder::load_recipe(args.recipe);
  const auto store = open_store(global);
  const std::optional<builder::Lock> lock =
      lock_for_build(recipe, *store, args.archive, /*locked=*/true, global.quiet);
  builder::BuildOptions options;
  options.lock = lock ? &*lock : nullptr;
  options.env_source_date_epoch = builder::source_date_epoch_from_env();
  options.tag = args.tag;
  const builder::BuildResult result = builder::build(recipe, *store, options);
  const builder::SbomInventory inventory =
      builder::collect_inventory(recipe, lock ? &*lock : nullptr, result);
  const std::string text = args.format == "cyclonedx" ? builder::cyclonedx_json(inventory)
                                                      : builder::spdx_json(inventory);
  if (args.output.empty() || args.output == "-") {
    std::cout << text << std::flush;
    return;
  }
  util::write_file_atomic(args.output, text);
  if (global.json) {
    std::cout << nlohmann::json{{"format", args.format},
                                {"output", args.output},
                                {"manifest", result.image.manifest.str()},
                                {"packages", inventory.packages.size()},
                                {"files", inventory.files.size()}}
                     .dump()
              << '\n';
  } else if (!global.quiet) {
    std::cerr << "wrote " << args.output << " (" << args.format << ", "
              << inventory.packages.size() << " packages, " << inventory.files.size()
              << " fetched files)\n";
  }
}

}  // namespace

void register_sbom(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<SbomArgs>();
  CLI::App* cmd = app.add_subcommand(
      "sbom", "Print the SBOM (SPDX 2.3 or CycloneDX 1.5 JSON) of the image a recipe builds");
  cmd->add_option("RECIPE", args->recipe, "A strata.toml file, or a directory holding one")
      ->required();
  cmd->add_option("--format", args->format, "spdx (default) or cyclonedx")
      ->check(CLI::IsMember({"spdx", "cyclonedx"}));
  cmd->add_option("-o,--output", args->output, "Write the SBOM to FILE instead of stdout");
  cmd->add_option("-t,--tag", args->tag,
                  "Store tag NAME[:TAG] of the image (default: the recipe name, tag latest)");
  add_archive_flags(cmd, args->archive);
  cmd->callback([args, &global] { run_sbom(*args, global); });
}

}  // namespace strata::cli
