// `strata pull REF [--platform OS/ARCH] [--unpack DIR [--force]]`: downloads an image into
// the store (tagged "HOST/REPO:TAG") and optionally unpacks its layers into DIR.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/image_location.hpp"

namespace strata::cli {
namespace {

struct PullArgs {
  std::string ref;
  std::string platform;
  std::string unpack;
  bool force = false;
  RemoteOptions remote;
};

void run_pull(const PullArgs& args, const GlobalOptions& global) {
  const auto loc = parse_location(args.ref, true);
  auto store = open_store(global);
  auto client = make_client(loc.reference.registry, args.remote);
  registry::client::PullOptions po;
  po.jobs = args.remote.jobs;
  po.force = args.force;
  po.progress = progress_printer(global);
  if (!args.platform.empty()) {
    po.platform = oci::Platform::parse(args.platform);
  }
  if (!args.unpack.empty()) {
    po.unpack_dir = std::filesystem::path(args.unpack);
  }
  const auto r = registry::client::pull_image(*client, loc.reference, *store, po);
  if (global.json) {
    std::cout << nlohmann::json{{"digest", r.digest.str()},
                                {"media_type", r.media_type},
                                {"manifest", r.manifest.str()},
                                {"tag", r.tag},
                                {"downloaded", r.downloaded},
                                {"reused", r.reused}}
                     .dump()
              << '\n';
  } else {
    std::cout << r.digest.str() << '\n';
  }
}

}  // namespace

void register_pull(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<PullArgs>();
  CLI::App* cmd = app.add_subcommand("pull", "Pull an image from a registry into the store");
  cmd->add_option("REF", args->ref, "[docker://]HOST/REPO[:TAG][@DIGEST]")->required();
  cmd->add_option("--platform", args->platform,
                  "OS/ARCH[/VARIANT] to pick from an index (default: this machine's)");
  cmd->add_option("--unpack", args->unpack, "Also unpack the image's layers into this directory");
  cmd->add_flag("--force", args->force, "Unpack into a directory that is not empty");
  add_remote_options(*cmd, args->remote);
  cmd->callback([args, &global] { run_pull(*args, global); });
}

}  // namespace strata::cli
