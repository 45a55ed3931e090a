// `strata tags REF`: lists a registry repository's tags (all pages), one per line.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/image_location.hpp"

namespace strata::cli {
namespace {

struct TagsArgs {
  std::string ref;
  std::size_t page = 0;
  RemoteOptions remote;
};

}  // namespace

void register_tags(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<TagsArgs>();
  CLI::App* cmd = app.add_subcommand("tags", "List the tags of a registry repository");
  cmd->add_option("REF", args->ref, "[docker://]HOST/REPO (a tag, if given, is ignored)")
      ->required();
  cmd->add_option("--page-size", args->page, "Tags per request (default: the registry's)");
  add_remote_options(*cmd, args->remote);
  cmd->callback([args, &global] {
    const auto loc = parse_location(args->ref, true);
    auto client = make_client(loc.reference.registry, args->remote);
    client->add_scope(loc.reference.repository, "pull");
    const auto tags = client->list_tags(loc.reference.repository, args->page);
    if (global.json) {
      std::cout << nlohmann::json{{"name", loc.reference.repository}, {"tags", tags}}.dump()
                << '\n';
      return;
    }
    for (const auto& t : tags) {
      std::cout << t << '\n';
    }
  });
}

}  // namespace strata::cli
