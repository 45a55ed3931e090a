// `strata registry gc` and `strata registry fsck`: maintenance of a registry root, safe to
// run beside a live `strata registry serve` on the same root.
//
//   gc    mark from tags, young untagged manifests, index children and referrers; remove
//         the rest outside the grace period (docs/registry.md, "Garbage collection")
//   fsck  re-hash every blob, check every manifest, tag, referrer and upload; exit code 5
//         (corruption) when an error is found
// Human output goes to stdout, one line per object; with --json each command prints exactly
// one JSON document.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cache/store.hpp"
#include "cli/app.hpp"
#include "registry/server/fsck.hpp"
#include "registry/server/gc.hpp"
#include "registry/server/server.hpp"
#include "util/error.hpp"

namespace strata::cli {

namespace {

using nlohmann::json;

/// The given root, else the one `strata registry serve` uses by default.
std::filesystem::path registry_root(const std::string& given) {
  return given.empty() ? registry::default_registry_root() : std::filesystem::path(given);
}

struct GcArgs {
  std::string root;
  bool dry_run = false;
  std::string grace = "1h";
  std::string retention = "24h";
};

json items_json(const std::vector<registry::GcItem>& items) {
  json out = json::array();
  for (const auto& item : items) {
    json j{{"digest", item.digest}, {"size", item.size}};
    if (!item.repo.empty()) {
      j["repository"] = item.repo;
    }
    out.push_back(std::move(j));
  }
  return out;
}

void run_gc(const GcArgs& args, const GlobalOptions& global) {
  registry::GcOptions opts;
  opts.root = registry_root(args.root);
  opts.dry_run = args.dry_run;
  opts.grace = registry::parse_duration(args.grace);
  opts.untagged_retention = registry::parse_duration(args.retention);
  const auto r = registry::collect_garbage(opts);
  if (global.json) {
    json j{{"root", opts.root.string()},
           {"dry_run", opts.dry_run},
           {"repositories", r.repositories},
           {"live_manifests", r.live_manifests},
           {"manifests", items_json(r.manifests)},
           {"links", items_json(r.links)},
           {"blobs", items_json(r.blobs)},
           {"bytes", r.bytes},
           {"repositories_removed", r.repositories_removed},
           {"restored", r.restored},
           {"warnings", r.warnings}};
    std::cout << j.dump() << '\n';
    return;
  }
  const std::string verb = opts.dry_run ? "would remove" : "removed";
  for (const auto& m : r.manifests) {
    std::cout << verb << " manifest " << m.repo << "@" << m.digest << '\n';
  }
  for (const auto& l : r.links) {
    std::cout << verb << " link " << l.repo << " -> " << l.digest << '\n';
  }
  for (const auto& b : r.blobs) {
    std::cout << verb << " blob " << b.digest << " (" << b.size << " bytes)\n";
  }
  for (const auto& w : r.warnings) {
    std::cerr << "strata: warning: " << w << '\n';
  }
  std::cout << (opts.dry_run ? "dry run: " : "") << r.repositories << " repositories, "
            << r.live_manifests << " manifests kept; " << verb << " " << r.manifests.size()
            << " manifests, " << r.links.size() << " links, " << r.blobs.size() << " blobs ("
            << r.bytes << " bytes)" << '\n';
}

void run_fsck(const std::string& root_arg, const GlobalOptions& global) {
  const auto root = registry_root(root_arg);
  const auto r = registry::check_registry(root);
  const auto severity = [](registry::FsckSeverity s) {
    return s == registry::FsckSeverity::Error ? "error" : "notice";
  };
  if (global.json) {
    json problems = json::array();
    for (const auto& p : r.problems) {
      problems.push_back({{"severity", severity(p.severity)},
                          {"kind", p.kind},
                          {"repository", p.repo},
                          {"digest", p.digest},
                          {"message", p.message}});
    }
    json j{{"root", root.string()},     {"ok", r.clean()},           {"blobs", r.blobs},
           {"bytes", r.bytes},          {"repositories", r.repositories},
           {"manifests", r.manifests},  {"links", r.links},          {"tags", r.tags},
           {"uploads", r.uploads},      {"problems", std::move(problems)}};
    std::cout << j.dump() << '\n';
    if (!r.clean()) {
      // The document above is the whole output; only the exit code is left to say.
      throw CLI::RuntimeError(util::exit_code(util::ErrorKind::Corruption));
    }
    return;
  }
  for (const auto& p : r.problems) {
    std::cout << severity(p.severity) << ": " << p.kind << ": " << p.message << '\n';
  }
  std::cout << "checked " << r.blobs << " blobs (" << r.bytes << " bytes), " << r.repositories
            << " repositories, " << r.manifests << " manifests, " << r.tags << " tags, "
            << r.uploads << " uploads: " << r.errors() << " errors, "
            << r.problems.size() - r.errors() << " notices\n";
  if (!r.clean()) {
    util::fail(util::ErrorKind::Corruption,
               std::to_string(r.errors()) + " problem(s) in registry " + root.string() +
                   " (listed above); fix them as each line says, then run fsck again");
  }
}

}  // namespace

void add_registry_admin_commands(CLI::App& registry_cmd, GlobalOptions& global) {
  auto gc_args = std::make_shared<GcArgs>();
  auto* gc = registry_cmd.add_subcommand(
      "gc", "Remove untagged manifests and unreferenced blobs (safe while the server runs)");
  gc->add_option("--root", gc_args->root, "Registry directory (default: as for serve)");
  gc->add_flag("--dry-run", gc_args->dry_run, "Report what would be removed, change nothing");
  gc->add_option("--grace", gc_args->grace,
                 "Keep everything pushed, mounted or checked this recently (e.g. 30m, 1h); "
                 "longer than your slowest push")
      ->capture_default_str();
  gc->add_option("--untagged-retention", gc_args->retention,
                 "Keep untagged manifests this long after their push (e.g. 0s, 24h, 7d)")
      ->capture_default_str();
  gc->add_flag("--json", global.json, "One JSON document on stdout");
  gc->callback([gc_args, &global] { run_gc(*gc_args, global); });

  auto root = std::make_shared<std::string>();
  auto* fsck = registry_cmd.add_subcommand(
      "fsck", "Re-verify every blob, manifest, tag and upload (exit code 5 on errors)");
  fsck->add_option("--root", *root, "Registry directory (default: as for serve)");
  fsck->add_flag("--json", global.json, "One JSON document on stdout");
  fsck->callback([root, &global] { run_fsck(*root, global); });
}

}  // namespace strata::cli
