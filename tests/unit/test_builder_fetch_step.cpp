// The `fetch` step: verified downloads into the store, plain files and extractions (tar of
// every compression, zip), hostile archives, offline reuse, and a recipe's fetch layer
// written and read back. Fixtures are made here: archives with libarchive's writer or the
// byte-level TarBuilder, served by a loopback HTTP server.
#include <archive.h>
#include <archive_entry.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "builder/fetch_step.hpp"
#include "builder/recipe.hpp"
#include "builder/steps.hpp"
#include "builder_test_support.hpp"
#include "cache/store.hpp"
#include "debian_archive_fixture.hpp"
#include "oci/digest.hpp"
#include "oci/layer_writer.hpp"
#include "oci_tar_read.hpp"
#include "tar_fixture.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/io.hpp"

using namespace strata;
using builder::FetchPlanner;
using builder::FetchStep;
using builder::debian::test::ArchiveServer;
using oci::LayerEntry;
using strata::test::catch_error;
using strata::test::put_file;
using strata::test::TarBuilder;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t k_sde = 1'600'000'000;

struct Env {
  util::TempDir dir{"strata-fetch-test"};
  fs::path www = dir.path() / "www";
  cache::Store store{dir.path() / "store", cache::Store::Options{{}, false}};
  std::optional<ArchiveServer> server;

  Env() {
    fs::create_directories(www);
    server.emplace(www);
  }
  /// Serves `content` as /NAME and returns its URL.
  std::string serve(const std::string& name, const std::string& content) {
    put_file(www / name, content);
    return server->url() + "/" + name;
  }
  FetchPlanner planner() {
    builder::FetchPlannerOptions o;
    o.fetch.backoff_initial = std::chrono::milliseconds(5);
    o.fetch.backoff_max = std::chrono::milliseconds(20);
    o.fetch.max_attempts = 2;
    o.fetch.jitter_seed = 7;
    o.scratch_parent = dir.path();
    return FetchPlanner(store, o);
  }
};

FetchStep step(const std::string& url, const oci::Digest& digest, const std::string& dest,
               const std::string& extract = "", std::uint32_t strip = 0) {
  FetchStep s;
  s.url = url;
  s.digest = digest;
  s.dest = dest;
  s.extract = extract;
  s.strip_components = strip;
  s.location = builder::SourceLocation{"strata.toml", 7, 3};
  return s;
}

oci::Digest sha256(const std::string& data) {
  return oci::Digest::of(data);
}

std::map<std::string, LayerEntry> by_path(std::vector<LayerEntry> entries) {
  std::map<std::string, LayerEntry> out;
  for (auto& e : entries) {
    const std::string path = e.path;
    REQUIRE(out.emplace(path, std::move(e)).second);
  }
  return out;
}

std::string content_of(const LayerEntry& e) {
  return e.source.empty() ? e.content : util::read_file(e.source);
}

/// An archive written with libarchive's writer: (path, content) files, "DIR/" directories.
std::string write_archive(int format, int filter,
                          const std::vector<std::pair<std::string, std::string>>& files) {
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                            &archive_write_free);
  REQUIRE(archive_write_set_format(a.get(), format) == ARCHIVE_OK);
  REQUIRE(archive_write_add_filter(a.get(), filter) == ARCHIVE_OK);
  std::string out(1 << 20, '\0');
  std::size_t used = 0;
  REQUIRE(archive_write_open_memory(a.get(), out.data(), out.size(), &used) == ARCHIVE_OK);
  for (const auto& [path, content] : files) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                    &archive_entry_free);
    archive_entry_set_pathname(e.get(), path.c_str());
    const bool dir = path.ends_with('/');
    archive_entry_set_filetype(e.get(), dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e.get(), dir ? 0755 : (path.ends_with(".sh") ? 0755 : 0644));
    archive_entry_set_size(e.get(), dir ? 0 : static_cast<la_int64_t>(content.size()));
    archive_entry_set_mtime(e.get(), 1'500'000'000, 0);
    REQUIRE(archive_write_header(a.get(), e.get()) == ARCHIVE_OK);
    if (!dir) {
      REQUIRE(archive_write_data(a.get(), content.data(), content.size()) ==
              static_cast<la_ssize_t>(content.size()));
    }
  }
  REQUIRE(archive_write_close(a.get()) == ARCHIVE_OK);
  out.resize(used);
  return out;
}

const std::vector<std::pair<std::string, std::string>> k_tree = {
    {"pkg-1.0/", ""},
    {"pkg-1.0/bin/", ""},
    {"pkg-1.0/bin/run.sh", "#!/bin/sh\necho run\n"},
    {"pkg-1.0/share/doc/README", "read me\n"},
};

/// Checks the entries of k_tree extracted with strip_components = 1 into /opt/pkg.
void check_tree(const std::vector<LayerEntry>& entries) {
  const auto e = by_path(entries);
  REQUIRE(e.size() == 3);  // bin, bin/run.sh, share/doc/README (share and share/doc implied)
  CHECK(e.at("opt/pkg/bin").type == LayerEntry::Type::Directory);
  CHECK(e.at("opt/pkg/bin/run.sh").mode == 0755);
  CHECK(content_of(e.at("opt/pkg/bin/run.sh")) == "#!/bin/sh\necho run\n");
  CHECK(e.at("opt/pkg/share/doc/README").mode == 0644);
  CHECK(content_of(e.at("opt/pkg/share/doc/README")) == "read me\n");
  CHECK(e.at("opt/pkg/share/doc/README").mtime == 1'500'000'000);  // older than SDE: kept
}

}  // namespace

TEST_CASE("fetch: a plain file pinned by sha256 becomes one entry streamed from the store",
          "[builder][fetch]") {
  Env env;
  const std::string body = "#!/bin/sh\necho tool\n";
  const std::string url = env.serve("tool", body);
  FetchPlanner planner = env.planner();
  auto s = step(url, sha256(body), "/usr/local/bin/tool");
  const auto entries = planner.entries(s, k_sde);
  REQUIRE(entries.size() == 1);
  const LayerEntry& e = entries[0];
  CHECK(e.path == "usr/local/bin/tool");
  CHECK(e.type == LayerEntry::Type::File);
  CHECK(e.mode == 0644);
  CHECK(e.uid == 0);
  CHECK(e.gid == 0);
  CHECK(e.mtime == k_sde);
  CHECK(e.source == env.store.blob_path(sha256(body)));
  CHECK(content_of(e) == body);
  CHECK(env.store.blob_info(sha256(body))->media_type == "application/octet-stream");
  CHECK(env.server->count("/tool") == 1);

  const auto input = FetchPlanner::input(s);
  CHECK(input.path == "fetch:" + url);
  CHECK(input.sha256 == sha256(body).str());
  CHECK(input.type == "fetch");
}

TEST_CASE("fetch: sha512, mode and owner; file:// URLs work too", "[builder][fetch]") {
  Env env;
  const std::string body(100'000, 'x');
  const auto digest = oci::Digest::of(body, util::HashAlgorithm::Sha512);
  FetchPlanner planner = env.planner();
  auto s = step(env.serve("big.bin", body), digest, "/data/big.bin");
  s.mode = 0600;
  s.owner = builder::Owner{1000, 1001};
  auto entries = planner.entries(s, k_sde);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].mode == 0600);
  CHECK(entries[0].uid == 1000);
  CHECK(entries[0].gid == 1001);
  CHECK(content_of(entries[0]) == body);
  CHECK(env.store.has_blob(digest));

  const std::string local = "other file\n";
  put_file(env.dir.path() / "local.txt", local);
  auto f = step("file://" + (env.dir.path() / "local.txt").string(), sha256(local), "/etc/l");
  entries = planner.entries(f, k_sde);
  REQUIRE(entries.size() == 1);
  CHECK(content_of(entries[0]) == local);
}

TEST_CASE("fetch: tar.gz and zip are extracted below dest with strip_components",
          "[builder][fetch]") {
  Env env;
  FetchPlanner planner = env.planner();
  SECTION("tar.gz") {
    const auto data = write_archive(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_GZIP, k_tree);
    check_tree(
        planner.entries(step(env.serve("p.tgz", data), sha256(data), "/opt/pkg", "tar", 1), k_sde));
  }
  SECTION("zip") {
    const auto data = write_archive(ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE, k_tree);
    check_tree(
        planner.entries(step(env.serve("p.zip", data), sha256(data), "/opt/pkg", "zip", 1), k_sde));
  }
  SECTION("tar.xz, tar.bz2, tar.zst and plain tar") {
    for (const int filter :
         {ARCHIVE_FILTER_XZ, ARCHIVE_FILTER_BZIP2, ARCHIVE_FILTER_ZSTD, ARCHIVE_FILTER_NONE}) {
      const auto data = write_archive(ARCHIVE_FORMAT_TAR_USTAR, filter, k_tree);
      const std::string name = "p" + std::to_string(filter) + ".tar";
      check_tree(
          planner.entries(step(env.serve(name, data), sha256(data), "/opt/pkg", "tar", 1), k_sde));
    }
  }
  SECTION("a zip named as a tar is refused clearly") {
    const auto data = write_archive(ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE, k_tree);
    const auto err = catch_error(
        [&] { planner.entries(step(env.serve("p.zip", data), sha256(data), "/o", "tar"), k_sde); });
    CHECK(err.kind() == util::ErrorKind::InvalidInput);
    CHECK_THAT(err.what(), Catch::Contains("strata.toml:7:3") && Catch::Contains("p.zip") &&
                               Catch::Contains("not a readable tar archive"));
  }
}

TEST_CASE("fetch: symlinks, hardlinks, modes, owners and mtimes of an extraction",
          "[builder][fetch]") {
  Env env;
  TarBuilder tar;
  tar.dir("./", {.mode = 0750})
      .dir("./bin/", {.mode = 0700, .uid = 5})
      .file("./bin/tool", "tool\n", {.mode = 04755, .uid = 7, .mtime = 1'900'000'000})
      .hardlink("./bin/tool2", "./bin/tool")
      .symlink("./bin/t", "tool")
      .symlink("./bin/abs", "/usr/bin/env");
  const std::string data = strata::test::gzip(tar.finish());
  FetchPlanner planner = env.planner();
  auto s = step(env.serve("t.tgz", data), sha256(data), "/opt/t", "tar");
  s.owner = builder::Owner{10, 20};
  const auto e = by_path(planner.entries(s, k_sde));
  REQUIRE(e.size() == 6);
  CHECK(e.at("opt/t").mode == 0750);  // "./" sets the extraction directory's mode
  CHECK(e.at("opt/t/bin").mode == 0700);
  CHECK(e.at("opt/t/bin").uid == 10);
  const LayerEntry& tool = e.at("opt/t/bin/tool");
  CHECK(tool.mode == 04755);
  CHECK(tool.uid == 10);
  CHECK(tool.gid == 20);
  CHECK(tool.mtime == k_sde);  // newer than SOURCE_DATE_EPOCH: clamped
  CHECK(e.at("opt/t/bin/tool2").type == LayerEntry::Type::Hardlink);
  CHECK(e.at("opt/t/bin/tool2").link_target == "opt/t/bin/tool");
  CHECK(e.at("opt/t/bin/t").type == LayerEntry::Type::Symlink);
  CHECK(e.at("opt/t/bin/t").link_target == "tool");
  CHECK(e.at("opt/t/bin/abs").link_target == "/usr/bin/env");
}

TEST_CASE("fetch: a wrong digest is Corruption naming URL, both digests and the step",
          "[builder][fetch]") {
  Env env;
  const std::string body = "the real content\n";
  const std::string url = env.serve("f.txt", body);
  const auto wrong = sha256("something else");
  const auto before = env.store.list_blobs().size();
  FetchPlanner planner = env.planner();
  const auto err = catch_error([&] { planner.entries(step(url, wrong, "/f.txt"), k_sde); });
  CHECK(err.kind() == util::ErrorKind::Corruption);
  CHECK_THAT(err.what(), Catch::Contains("strata.toml:7:3") && Catch::Contains(url) &&
                             Catch::Contains("expected " + wrong.str()) &&
                             Catch::Contains("got " + sha256(body).str()) &&
                             Catch::Contains("publisher"));
  CHECK(env.store.list_blobs().size() == before);
  CHECK_FALSE(env.store.has_blob(wrong));
  CHECK_FALSE(env.store.has_blob(sha256(body)));
}

TEST_CASE("fetch: a missing file is NotFound naming the URL", "[builder][fetch]") {
  Env env;
  FetchPlanner planner = env.planner();
  const std::string url = env.server->url() + "/missing.tar.gz";
  const auto err =
      catch_error([&] { planner.entries(step(url, sha256("x"), "/m", "tar"), k_sde); });
  CHECK(err.kind() == util::ErrorKind::NotFound);
  CHECK_THAT(err.what(), Catch::Contains(url) && Catch::Contains("strata.toml:7:3"));
}

TEST_CASE("fetch: hostile archives are refused, naming the URL and the entry", "[builder][fetch]") {
  Env env;
  struct Case {
    std::string name;
    std::string tar;
    std::string entry;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"dotdot", TarBuilder().file("a/../../escape", "x").finish(), "escape", "'..'"},
      {"absolute", TarBuilder().file("/etc/passwd", "x").finish(), "/etc/passwd", "absolute"},
      {"through-symlink", TarBuilder().symlink("link", "/etc").file("link/passwd", "x").finish(),
       "link/passwd", "through the symlink 'link'"},
      {"through-relative-symlink", TarBuilder().symlink("up", "../../..").dir("up/x/").finish(),
       "up/x/", "through the symlink 'up'"},
      {"chardev", TarBuilder().chardev("dev/null", 1, 3).finish(), "dev/null", "character device"},
      {"fifo", TarBuilder().fifo("pipe").finish(), "pipe", "FIFO"},
      {"whiteout", TarBuilder().file("d/.wh.victim", "").finish(), ".wh.victim", "whiteout"},
      {"hardlink-outside", TarBuilder().hardlink("h", "../../etc/shadow").finish(), "'h'", "'..'"},
      {"hardlink-missing", TarBuilder().hardlink("h", "nothing").finish(), "'h'",
       "not a regular file earlier"},
  };
  FetchPlanner planner = env.planner();
  for (const Case& c : cases) {
    INFO(c.name);
    const std::string url = env.serve(c.name + ".tar", c.tar);
    const auto err =
        catch_error([&] { planner.entries(step(url, sha256(c.tar), "/opt/x", "tar"), k_sde); });
    CHECK(err.kind() == util::ErrorKind::InvalidInput);
    CHECK_THAT(err.what(), Catch::Contains(url) && Catch::Contains(c.entry) &&
                               Catch::Contains(c.reason) && Catch::Contains("strata.toml:7:3"));
  }
  CHECK_FALSE(fs::exists(env.dir.path() / "escape"));
  CHECK_FALSE(fs::exists(env.dir.path().parent_path() / "escape"));
}

TEST_CASE("fetch: a blob already in the store is used without any network", "[builder][fetch]") {
  Env env;
  const auto data = write_archive(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_GZIP, k_tree);
  const std::string url = env.serve("p.tgz", data);
  const auto s = step(url, sha256(data), "/opt/pkg", "tar", 1);
  {
    FetchPlanner planner = env.planner();
    check_tree(planner.entries(s, k_sde));
    CHECK(planner.stats().downloaded == 1);
  }
  env.server.reset();  // nothing listens any more
  FetchPlanner planner = env.planner();
  check_tree(planner.entries(s, k_sde));
  CHECK(planner.stats().requests == 0);
  CHECK(planner.stats().reused == 1);
}

TEST_CASE("fetch: the planner's scratch directory goes away with it", "[builder][fetch]") {
  Env env;
  const auto data = write_archive(ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, k_tree);
  fs::path source;
  {
    FetchPlanner planner = env.planner();
    const auto e = by_path(
        planner.entries(step(env.serve("p.tar", data), sha256(data), "/opt/pkg", "tar", 1), k_sde));
    source = e.at("opt/pkg/bin/run.sh").source;
    CHECK(fs::exists(source));
  }
  CHECK_FALSE(fs::exists(source));
}

TEST_CASE("fetch: a recipe's fetch layer plans, keys without network, and writes",
          "[builder][fetch]") {
  Env env;
  const std::string tool = "#!/bin/sh\necho hi\n";
  const auto archive =
      write_archive(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_GZIP, k_tree);
  const std::string tool_url = env.serve("tool.sh", tool);
  const std::string pkg_url = env.serve("pkg-1.0.tar.gz", archive);
  const std::string text =
      "[recipe]\nname = \"fetchy\"\nsource_date_epoch = 1600000000\n"
      "[[layer]]\nname = \"downloads\"\n"
      "[[layer.step]]\ntype = \"fetch\"\nurl = \"" +
      tool_url + "\"\nsha256 = \"" + sha256(tool).hex() +
      "\"\ndest = \"/usr/local/bin/\"\nmode = 0o755\n"
      "[[layer.step]]\ntype = \"fetch\"\nurl = \"" +
      pkg_url + "\"\nsha256 = \"" + sha256(archive).hex() +
      "\"\ndest = \"/opt/pkg\"\nextract = \"tar\"\nstrip_components = 1\n"
      "[[layer.step]]\ntype = \"file\"\npath = \"/opt/pkg/VERSION\"\n"
      "content = \"1.0\\n\"\n";
  const auto recipe_file = env.dir.path() / "strata.toml";
  const builder::Recipe recipe = builder::parse_recipe(text, recipe_file);
  REQUIRE(recipe.layers.size() == 1);
  const builder::Layer& layer = recipe.layers[0];

  // Without a planner the layer cannot be built, but its inputs are known offline.
  const auto err = catch_error([&] { (void)builder::plan_layer(recipe, layer, k_sde); });
  CHECK(err.kind() == util::ErrorKind::Unsupported);
  CHECK_THAT(err.what(), Catch::Contains("strata.toml:6:") && Catch::Contains(tool_url));
  const auto inputs = builder::plan_layer_inputs(recipe, layer, k_sde);
  REQUIRE(inputs.size() == 2);
  CHECK(env.server->requests().empty());

  FetchPlanner planner = env.planner();
  builder::LayerPlan plan = builder::plan_layer(recipe, layer, k_sde, {}, &planner);
  CHECK(plan.inputs == inputs);
  CHECK(env.server->count("/tool.sh") == 1);
  CHECK(env.server->count("/pkg-1.0.tar.gz") == 1);

  oci::LayerOptions options;
  options.compression = oci::Compression::Gzip;
  options.source_date_epoch = k_sde;
  util::StringSink sink;
  const auto result = oci::write_layer_from_entries(std::move(plan.entries), options, sink);
  CHECK(result.entries > 0);
  std::map<std::string, strata::test::ReadEntry> files;
  for (auto& r : strata::test::read_tar(sink.take())) {
    files[r.path] = r;
  }
  REQUIRE(files.count("usr/local/bin/tool.sh") == 1);
  CHECK(files["usr/local/bin/tool.sh"].content == tool);
  CHECK(files["usr/local/bin/tool.sh"].perm == 0755);
  CHECK(files["usr/local/bin/tool.sh"].mtime == k_sde);
  REQUIRE(files.count("opt/pkg/bin/run.sh") == 1);
  CHECK(files["opt/pkg/bin/run.sh"].content == "#!/bin/sh\necho run\n");
  CHECK(files["opt/pkg/share/doc/README"].content == "read me\n");
  CHECK(files["opt/pkg/VERSION"].content == "1.0\n");
  CHECK(files.count("opt/pkg/") == 1);  // parents are written
}
