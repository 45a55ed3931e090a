// `strata push SRC REF`: pushes an OCI layout image (oci:DIR[:TAG]) or a store tag
// (NAME[:TAG]) to a registry; prints the manifest digest.
#include "cli/image_location.hpp"

namespace strata::cli {
namespace {

struct PushArgs {
  std::string src;
  std::string dst;
  std::vector<std::string> mount_from;
  RemoteOptions remote;
};

}  // namespace

void register_push(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<PushArgs>();
  CLI::App* cmd = app.add_subcommand("push", "Push an image to a registry");
  cmd->add_option("SRC", args->src, "oci:DIR[:TAG] (an OCI layout) or NAME[:TAG] (a store tag)")
      ->required();
  cmd->add_option("REF", args->dst, "[docker://]HOST/REPO[:TAG]")->required();
  cmd->add_option("--mount-from", args->mount_from,
                  "Repository of the same registry to mount existing blobs from");
  add_remote_options(*cmd, args->remote);
  cmd->callback([args, &global] {
    const auto src = parse_location(args->src);
    if (src.kind == ImageLocation::Kind::Registry) {
      util::fail(util::ErrorKind::InvalidInput,
                 args->src + " is a registry reference; use `strata copy` between registries");
    }
    const auto dst = parse_location(args->dst, true);
    print_copy_result(global, copy_image(src, dst, global, args->remote, args->mount_from),
                      args->dst);
  });
}

}  // namespace strata::cli
