#include "cli/app.hpp"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "builder/recipe.hpp"

namespace strata::cli {


bool GlobalOptions::progress() const { return !quiet && !json && ::isatty(STDERR_FILENO) != 0; }

void report_error(const GlobalOptions& global, util::ErrorKind kind, const std::string& message) {
  if (global.json) {
    nlohmann::json j;
    j["error"] = {{"kind", util::kind_name(kind)}, {"message", message}};
    std::cout << j.dump() << '\n';
  } else {
    std::cerr << "strata: error: " << message << '\n';
  }
}

int run(int argc, char** argv) {
  CLI::App app{"strata: reproducible environment images for data-science and ML teams"};
  app.set_version_flag("--version", std::string("strata ") + STRATA_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options are accepted after the subcommand too
  GlobalOptions global;
  app.add_flag("--json", global.json, "Machine-readable JSON output on stdout");
  app.add_flag("-q,--quiet", global.quiet, "No progress output");
  app.add_option("--store", global.store,
                 "Store directory (default: $STRATA_HOME, else $XDG_CACHE_HOME/strata)");
  std::vector<std::string> catalog_args;
  std::vector<std::filesystem::path> catalog_dirs;
  app.add_option("--catalog", catalog_args,
                 "Catalog directory searched first for recipe names (repeatable; then "
                 "$STRATA_CATALOG, then the installed catalog)")
      ->allow_extra_args(false)
      ->each([&catalog_dirs](const std::string& dir) {
        catalog_dirs.emplace_back(dir);
        builder::set_catalog_dirs(catalog_dirs);
      });

  register_build(app, global);
  register_inspect(app, global);
  register_cache(app, global);
  register_layer(app, global);
  register_registry(app, global);
  register_push(app, global);
  register_pull(app, global);
  register_copy(app, global);
  register_tags(app, global);
  register_login(app, global);
  register_lock(app, global);
  register_plan(app, global);
  register_run(app, global);
  register_sbom(app, global);
  register_diff(app, global);
  register_outdated(app, global);
  register_recipes(app, global);

  try {
    // `strata run ... -- CMD ARGS...`: the command after `--` is taken verbatim (CLI11 would
    // otherwise try to parse its options).
    int parse_argc = argc;
    bool seen_run = false;
    for (int i = 1; i < argc; ++i) {
      const std::string_view a = argv[i];
      seen_run = seen_run || a == "run";
      if (seen_run && a == "--") {
        run_command_after_dashes().assign(argv + i + 1, argv + argc);
        parse_argc = i;
        break;
      }
    }
    app.parse(parse_argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const util::Error& e) {
    report_error(global, e.kind(), e.what());
    return util::exit_code(e.kind());
  } catch (const std::exception& e) {
    report_error(global, util::ErrorKind::Internal, std::string("internal error: ") + e.what());
    return util::exit_code(util::ErrorKind::Internal);
  }
  return 0;
}

}  // namespace strata::cli
