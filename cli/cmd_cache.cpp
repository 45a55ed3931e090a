// `strata cache ls|du|gc|verify`: look into and clean the local store.
//
//   ls      blobs (digest, size, media type, last use) and tags
//   du      totals by kind: layers, configs, manifests (and indexes), other
//   gc      remove blobs no tag reaches, by age and/or size budget (store.hpp, gc.cpp)
//   verify  re-hash every blob, drop bad ones; exit code 5 (corruption) if any was found
// Human output is aligned columns on stdout; with --json each command prints exactly one
// JSON document on stdout.
#include <algorithm>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cache/store.hpp"
#include "cli/app.hpp"
#include "oci/media_types.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace strata::cli {
namespace {

using nlohmann::json;

std::filesystem::path store_root(const GlobalOptions& global) {
  return global.store.empty() ? cache::Store::default_root() : std::filesystem::path(global.store);
}

std::string utc(std::int64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// Columns padded to their widest cell; the last column is not padded.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { m_rows.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { m_rows.push_back(std::move(row)); }
  void print(std::ostream& out) const {
    std::vector<std::size_t> width;
    for (const auto& row : m_rows) {
      width.resize(std::max(width.size(), row.size()));
      for (std::size_t i = 0; i < row.size(); ++i) {
        width[i] = std::max(width[i], row[i].size());
      }
    }
    for (const auto& row : m_rows) {
      std::string line;
      for (std::size_t i = 0; i < row.size(); ++i) {
        line += row[i];
        if (i + 1 < row.size()) {
          line += std::string(width[i] - row[i].size() + 2, ' ');
        }
      }
      out << line << '\n';
    }
  }

 private:
  std::vector<std::vector<std::string>> m_rows;
};

std::string kind_of(const std::string& media_type) {
  if (oci::media::is_layer(media_type)) {
    return "layers";
  }
  if (media_type == oci::media::k_oci_config || media_type == oci::media::k_docker_config) {
    return "configs";
  }
  if (oci::media::is_manifest(media_type) || oci::media::is_index(media_type)) {
    return "manifests";
  }
  return "other";
}

json blob_json(const cache::BlobInfo& b) {
  return {{"digest", b.digest.str()},
          {"size", b.size},
          {"media_type", b.media_type},
          {"last_used", utc(b.last_used)}};
}

void cmd_ls(const GlobalOptions& global) {
  cache::Store store(store_root(global));
  auto blobs = store.list_blobs();
  std::sort(blobs.begin(), blobs.end(), [](const auto& a, const auto& b) {
    return a.last_used != b.last_used ? a.last_used > b.last_used : a.digest < b.digest;
  });
  const auto tags = store.list_tags();
  if (global.json) {
    json j{{"store", store.root().string()}, {"blobs", json::array()}, {"tags", json::array()}};
    for (const auto& b : blobs) {
      j["blobs"].push_back(blob_json(b));
    }
    for (const auto& t : tags) {
      j["tags"].push_back({{"name", t.name},
                           {"manifest", t.manifest.str()},
                           {"media_type", t.media_type},
                           {"updated", utc(t.updated)}});
    }
    std::cout << j.dump() << '\n';
    return;
  }
  Table blob_table({"DIGEST", "SIZE", "MEDIA TYPE", "LAST USED"});
  for (const auto& b : blobs) {
    blob_table.add({b.digest.str(), util::format_size(b.size),
                    b.media_type.empty() ? "-" : b.media_type, utc(b.last_used)});
  }
  blob_table.print(std::cout);
  if (!tags.empty()) {
    std::cout << '\n';
    Table tag_table({"TAG", "MANIFEST", "UPDATED"});
    for (const auto& t : tags) {
      tag_table.add({t.name, t.manifest.str(), utc(t.updated)});
    }
    tag_table.print(std::cout);
  }
}

void cmd_du(const GlobalOptions& global) {
  cache::Store store(store_root(global));
  struct Total {
    std::uint64_t count = 0;
    std::uint64_t bytes = 0;
  };
  const std::vector<std::string> kinds = {"layers", "configs", "manifests", "other"};
  std::map<std::string, Total> totals;
  Total all;
  for (const auto& b : store.list_blobs()) {
    auto& t = totals[kind_of(b.media_type)];
    ++t.count;
    t.bytes += b.size;
    ++all.count;
    all.bytes += b.size;
  }
  const auto cache_entries = store.list_layers().size();
  const auto tag_count = store.list_tags().size();
  if (global.json) {
    json j{{"store", store.root().string()},
           {"total", {{"blobs", all.count}, {"bytes", all.bytes}}},
           {"layer_cache_entries", cache_entries},
           {"tags", tag_count}};
    for (const auto& k : kinds) {
      j["kinds"][k] = {{"blobs", totals[k].count}, {"bytes", totals[k].bytes}};
    }
    std::cout << j.dump() << '\n';
    return;
  }
  Table table({"KIND", "BLOBS", "SIZE"});
  for (const auto& k : kinds) {
    table.add({k, std::to_string(totals[k].count), util::format_size(totals[k].bytes)});
  }
  table.add({"total", std::to_string(all.count), util::format_size(all.bytes)});
  table.print(std::cout);
  std::cout << "\n"
            << store.root().string() << ": " << cache_entries << " layer cache entries, "
            << tag_count << " tags\n";
}

struct GcArgs {
  std::string max_size;
  std::string max_age;
  std::string grace = "10m";
  bool dry_run = false;
};

void cmd_gc(const GlobalOptions& global, const GcArgs& args) {
  cache::Store::GcOptions options;
  if (!args.max_size.empty()) {
    options.max_bytes = util::parse_size(args.max_size, "--max-size");
  }
  if (!args.max_age.empty()) {
    options.max_age = util::parse_duration(args.max_age, "--max-age");
  }
  options.grace = util::parse_duration(args.grace, "--grace");
  options.dry_run = args.dry_run;
  cache::Store store(store_root(global));
  const auto r = store.gc(options);
  if (global.json) {
    json j{{"store", store.root().string()},   {"dry_run", args.dry_run},
           {"removed_blobs", r.removed_blobs}, {"removed_bytes", r.removed_bytes},
           {"kept_blobs", r.kept_blobs},       {"kept_bytes", r.kept_bytes},
           {"registered", r.registered},       {"removed", json::array()}};
    for (const auto& b : r.removed) {
      j["removed"].push_back(blob_json(b));
    }
    std::cout << j.dump() << '\n';
    return;
  }
  if (!r.removed.empty() && (args.dry_run || !global.quiet)) {
    Table table({args.dry_run ? "WOULD REMOVE" : "REMOVED", "SIZE", "MEDIA TYPE", "LAST USED"});
    for (const auto& b : r.removed) {
      table.add({b.digest.str(), util::format_size(b.size),
                 b.media_type.empty() ? "-" : b.media_type, utc(b.last_used)});
    }
    table.print(std::cout);
    std::cout << '\n';
  }
  std::cout << (args.dry_run ? "would remove " : "removed ") << r.removed_blobs << " blobs ("
            << util::format_size(r.removed_bytes) << "), kept " << r.kept_blobs << " blobs ("
            << util::format_size(r.kept_bytes) << ")";
  if (options.max_bytes && r.kept_bytes > *options.max_bytes) {
    std::cout << "; still over --max-size: the rest is tagged or used within --grace";
  }
  std::cout << '\n';
}

void cmd_verify(const GlobalOptions& global) {
  cache::Store store(store_root(global));
  const auto r = store.verify();
  if (global.json) {
    json j{{"store", store.root().string()}, {"ok", r.bad.empty()},
           {"checked", r.checked},           {"checked_bytes", r.checked_bytes},
           {"bad", json::array()},           {"registered", json::array()},
           {"stray", json::array()}};
    for (const auto& issue : r.issues) {
      j["bad"].push_back({{"digest", issue.digest.str()}, {"reason", issue.reason}});
    }
    for (const auto& d : r.registered) {
      j["registered"].push_back(d.str());
    }
    for (const auto& p : r.stray) {
      j["stray"].push_back(p.string());
    }
    std::cout << j.dump() << '\n';
    if (!r.bad.empty()) {
      // The document above is the whole output; only the exit code is left to say.
      throw CLI::RuntimeError(util::exit_code(util::ErrorKind::Corruption));
    }
    return;
  }
  if (!r.issues.empty() || !r.registered.empty() || !r.stray.empty()) {
    Table table({"STATUS", "BLOB", "DETAIL"});
    for (const auto& issue : r.issues) {
      table.add({"removed", issue.digest.str(), issue.reason});
    }
    for (const auto& d : r.registered) {
      table.add({"registered", d.str(), "intact file had no database row"});
    }
    for (const auto& p : r.stray) {
      table.add({"stray", p.string(), "not a blob name; left alone"});
    }
    table.print(std::cout);
    std::cout << '\n';
  }
  std::cout << "checked " << r.checked << " blobs (" << util::format_size(r.checked_bytes)
            << "): " << r.bad.size() << " bad\n";
  if (!r.bad.empty()) {
    util::fail(util::ErrorKind::Corruption,
               "verify removed " + std::to_string(r.bad.size()) + " bad blobs from the store " +
                   store.root().string() +
                   "; images that used them must be rebuilt or pulled again");
  }
}

}  // namespace

void register_cache(CLI::App& app, GlobalOptions& global) {
  auto* cache_cmd = app.add_subcommand("cache", "Inspect and clean the local blob store");
  cache_cmd->require_subcommand(1);

  auto* ls =
      cache_cmd->add_subcommand("ls", "List blobs (digest, size, media type, last use) and tags");
  ls->add_flag("--json", global.json, "One JSON document on stdout");
  ls->callback([&global] { cmd_ls(global); });

  auto* du = cache_cmd->add_subcommand("du", "Disk use by kind: layers, configs, manifests, other");
  du->add_flag("--json", global.json, "One JSON document on stdout");
  du->callback([&global] { cmd_du(global); });

  auto args = std::make_shared<GcArgs>();
  auto* gc = cache_cmd->add_subcommand(
      "gc",
      "Remove blobs no tag reaches. With --max-age, those unused for longer; with --max-size, "
      "least recently used first until the store fits; with neither, all of them. Blobs used "
      "within --grace are always kept, so a running build is safe.");
  gc->add_option("--max-size", args->max_size,
                 "Size budget, e.g. 10G (K/M/G/T = 1024^n, KB/MB/GB = 1000^n)");
  gc->add_option("--max-age", args->max_age,
                 "Remove blobs unused for longer than this, e.g. 30d, 12h");
  gc->add_option("--grace", args->grace, "Never remove blobs used more recently than this")
      ->capture_default_str();
  gc->add_flag("--dry-run", args->dry_run, "Report what would be removed; change nothing");
  gc->add_flag("--json", global.json, "One JSON document on stdout");
  gc->callback([&global, args] { cmd_gc(global, *args); });

  auto* verify = cache_cmd->add_subcommand(
      "verify", "Re-hash every blob and remove bad ones (exit code 5 if any was found)");
  verify->add_flag("--json", global.json, "One JSON document on stdout");
  verify->callback([&global] { cmd_verify(global); });
}

}  // namespace strata::cli
