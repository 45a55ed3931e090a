// The strata command line: argument parsing and dispatch to the library. Each subcommand
// lives in its own cli/cmd_<name>.cpp and registers itself on the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "util/error.hpp"

namespace strata::cli {

/// Options shared by every subcommand. Filled by the top-level parser.
struct GlobalOptions {
  bool json = false;      // machine-readable output on stdout
  bool quiet = false;     // no progress output
  std::string store;      // --store / $STRATA_HOME override; empty = default
  /// True when stderr is a terminal and progress may be drawn.
  [[nodiscard]] bool progress() const;
};

/// Runs the command line; returns the process exit code (docs/cli.md, "Exit codes").
int run(int argc, char** argv);

// Registration functions, one per cli/cmd_<name>.cpp. Each adds its subcommand to `app`
// and sets a callback that throws util::Error on failure.
void register_build(CLI::App& app, GlobalOptions& global);
void register_inspect(CLI::App& app, GlobalOptions& global);
void register_cache(CLI::App& app, GlobalOptions& global);
void register_layer(CLI::App& app, GlobalOptions& global);
void register_registry(CLI::App& app, GlobalOptions& global);
void register_push(CLI::App& app, GlobalOptions& global);
void register_pull(CLI::App& app, GlobalOptions& global);
void register_copy(CLI::App& app, GlobalOptions& global);
void register_tags(CLI::App& app, GlobalOptions& global);
void register_login(CLI::App& app, GlobalOptions& global);  // login and logout
void register_lock(CLI::App& app, GlobalOptions& global);   // lock and why
void register_plan(CLI::App& app, GlobalOptions& global);
void register_run(CLI::App& app, GlobalOptions& global);
void register_sbom(CLI::App& app, GlobalOptions& global);      // cli/cmd_sbom.cpp
void register_diff(CLI::App& app, GlobalOptions& global);      // cli/cmd_diff.cpp
void register_outdated(CLI::App& app, GlobalOptions& global);  // cli/cmd_outdated.cpp
void register_recipes(CLI::App& app, GlobalOptions& global);   // recipes and init
/// Adds `gc` and `fsck` under the `registry` subcommand (cli/cmd_registry_admin.cpp).
void add_registry_admin_commands(CLI::App& registry_cmd, GlobalOptions& global);

/// The words after `--` of a `strata run` command line (set by run() before parsing).
std::vector<std::string>& run_command_after_dashes();

/// Prints an error for humans (stderr) or as JSON ({"error":{kind,message}} on stdout).
void report_error(const GlobalOptions& global, util::ErrorKind kind, const std::string& message);

}  // namespace strata::cli
