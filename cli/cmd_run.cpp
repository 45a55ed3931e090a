// `strata run IMAGE [-- CMD...]` and `strata run --rootfs DIR [-- CMD...]`: run a command in
// an image of the store (its layers stacked as overlay lower dirs from their snapshots) or in
// an unpacked root filesystem, inside strata's build sandbox (builder/sandbox). Nothing the
// command writes is kept. The image's Env, WorkingDir, numeric User, Entrypoint and Cmd are
// used unless overridden. --gpus passes NVIDIA GPUs and the host's driver through
// (builder/sandbox/gpu.hpp).
#include <iostream>
#include <memory>

#include "builder/build.hpp"
#include "builder/sandbox/sandbox.hpp"
#include "builder/snapshots.hpp"
#include "cache/store.hpp"
#include "cli/app.hpp"
#include "oci/image.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace strata::cli {
namespace {

namespace fs = std::filesystem;

struct RunArgs {
  std::string image;
  std::string rootfs;
  std::vector<std::string> command;
  std::vector<std::string> env;
  std::string workdir;
  std::string user;
  bool network = false;
  double timeout = 0;
  std::string gpus;
  std::string gpu_driver_root = "/";
};

bool parse_owner(const std::string& text, std::uint32_t& uid, std::uint32_t& gid) {
  const auto colon = text.find(':');
  try {
    std::size_t used = 0;
    uid = static_cast<std::uint32_t>(std::stoul(text.substr(0, colon), &used));
    if (used != text.substr(0, colon).size()) {
      return false;
    }
    gid = colon == std::string::npos ? uid
                                     : static_cast<std::uint32_t>(std::stoul(text.substr(colon + 1)));
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

void run_run(RunArgs args, const GlobalOptions& global) {
  // One positional list: IMAGE first (without --rootfs), then the command.
  if (args.rootfs.empty() && !args.command.empty()) {
    args.image = args.command.front();
    args.command.erase(args.command.begin());
  }
  if (args.image.empty() == args.rootfs.empty()) {
    util::fail(util::ErrorKind::InvalidInput, "give either an IMAGE or --rootfs DIR");
  }
  builder::sandbox::RunOptions run;
  oci::RuntimeConfig config;
  std::unique_ptr<cache::Store> store;
  if (!args.rootfs.empty()) {
    if (!fs::is_directory(args.rootfs)) {
      util::fail(util::ErrorKind::NotFound, "--rootfs " + args.rootfs + " is not a directory");
    }
    run.lower_dirs = {fs::absolute(args.rootfs)};
  } else {
    store = std::make_unique<cache::Store>(global.store.empty() ? cache::Store::default_root()
                                                                : fs::path(global.store));
    const auto [name, tag] = builder::split_name_tag(args.image);
    const auto record = store->find_tag(name + ":" + tag);
    if (!record) {
      util::fail(util::ErrorKind::NotFound,
                 "no image tagged " + name + ":" + tag + " in the store " +
                     store->root().string() + " (build it, or `strata pull` it)");
    }
    const std::string manifest_json = store->read_blob(record->manifest);
    if (oci::detect_media_type(manifest_json, record->manifest.str()).find("index") !=
        std::string::npos) {
      util::fail(util::ErrorKind::Unsupported,
                 name + ":" + tag + " is an image index; run the platform image (pull it with "
                 "--platform) instead");
    }
    const oci::Manifest manifest = oci::parse_manifest(manifest_json, record->manifest.str());
    const oci::ImageConfig image =
        oci::parse_image_config(store->read_blob(manifest.config.digest), manifest.config.digest.str());
    if (image.diff_ids.size() != manifest.layers.size()) {
      util::fail(util::ErrorKind::Corruption,
                 "image " + record->manifest.str() + ": config and manifest list different layer counts");
    }
    for (std::size_t i = manifest.layers.size(); i-- > 0;) {
      run.lower_dirs.push_back(builder::ensure_snapshot(*store, image.diff_ids[i],
                                                        manifest.layers[i].digest,
                                                        manifest.layers[i].media_type));
    }
    config = image.config;
  }
  run.env = config.env;
  for (const auto& e : args.env) {
    const auto eq = e.find('=');
    if (eq == std::string::npos || eq == 0) {
      util::fail(util::ErrorKind::InvalidInput, "-e " + e + ": expected NAME=VALUE");
    }
    const std::string prefix = e.substr(0, eq + 1);
    std::erase_if(run.env, [&](const std::string& x) { return x.starts_with(prefix); });
    run.env.push_back(e);
  }
  run.argv = args.command;
  if (run.argv.empty()) {
    run.argv = config.entrypoint;
    run.argv.insert(run.argv.end(), config.cmd.begin(), config.cmd.end());
  }
  if (run.argv.empty()) {
    util::fail(util::ErrorKind::InvalidInput, "no command given and the image has no Entrypoint or Cmd");
  }
  run.workdir = !args.workdir.empty() ? args.workdir
                                      : (config.working_dir.empty() ? "/" : config.working_dir);
  const std::string user = !args.user.empty() ? args.user : config.user;
  if (!user.empty() && !parse_owner(user, run.uid, run.gid)) {
    if (!args.user.empty()) {
      util::fail(util::ErrorKind::InvalidInput, "--user " + user + ": expected numeric UID[:GID]");
    }
    // A user name in the image config: run as root (names are not resolved here).
  }
  if (!args.gpus.empty()) {
    const builder::sandbox::GpuRequest request = builder::sandbox::parse_gpu_request(args.gpus);
    run.gpus = builder::sandbox::discover_gpus(request, args.gpu_driver_root);
    run.env = builder::sandbox::gpu_environment(std::move(run.env), request);
    if (!global.quiet && !global.json) {
      std::cerr << "strata: passing through " << run.gpus.devices.size() << " NVIDIA device node"
                << (run.gpus.devices.size() == 1 ? "" : "s") << ", "
                << run.gpus.libraries.size() << " driver files"
                << (run.gpus.driver_version.empty() ? std::string()
                                                    : " (driver " + run.gpus.driver_version + ")")
                << "\n";
    }
  }
  run.network = args.network;
  run.timeout_seconds = args.timeout;
  run.on_output = [](std::string_view text) { std::cout << text << std::flush; };
  const fs::path scratch_parent =
      store ? store->root() / "tmp" : fs::temp_directory_path();
  fs::create_directories(scratch_parent);
  util::TempDir scratch("strata-run", scratch_parent);
  builder::sandbox::run(run, scratch.path() / "upper");
}

}  // namespace

std::vector<std::string>& run_command_after_dashes() {
  static std::vector<std::string> words;
  return words;
}

void register_run(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand(
      "run", "Run a command in an image of the store or an unpacked rootfs, in the sandbox");
  cmd->add_option("--rootfs", args->rootfs, "Run in this unpacked root filesystem instead");
  cmd->add_option("-e,--env", args->env, "Set NAME=VALUE (repeatable)")->allow_extra_args(false);
  cmd->add_option("-w,--workdir", args->workdir, "Working directory inside");
  cmd->add_option("-u,--user", args->user, "Numeric UID[:GID] (default: the image's)");
  cmd->add_flag("--network", args->network, "Share the host's network");
  cmd->add_option("--timeout", args->timeout, "Kill the command after this many seconds");
  cmd->add_option("--gpus", args->gpus,
                  "Pass NVIDIA GPUs through: \"all\" or indices (\"0,2\"); binds the host's "
                  "device nodes and driver libraries (libcuda, NVML, nvidia-smi) read-only");
  cmd->add_option("--gpu-driver-root", args->gpu_driver_root,
                  "Find the NVIDIA driver (dev/, lib dirs, bin/) under this root (default /)");
  cmd->add_option("IMAGE_AND_COMMAND", args->command,
                  "Store image NAME[:TAG] (unless --rootfs), then the command after --; default: "
                  "the image's Entrypoint + Cmd");
  cmd->callback([args, &global] {
    RunArgs all = *args;
    const auto& after = run_command_after_dashes();
    all.command.insert(all.command.end(), after.begin(), after.end());
    run_run(std::move(all), global);
  });
}

}  // namespace strata::cli
