// Building recipes into a store: caching, invalidation, reproducibility, failure, `from`.
#include <archive_entry.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "builder/build.hpp"
#include "builder/recipe.hpp"
#include "builder_test_support.hpp"
#include "cache/store.hpp"
#include "oci/image.hpp"
#include "oci_tar_read.hpp"
#include "util/fs.hpp"

using namespace strata;
using strata::test::catch_error;
using strata::test::put_file;
namespace fs = std::filesystem;

namespace {

const char* const k_recipe = R"([recipe]
name = "demo"
source_date_epoch = 1700000000

[[layer]]
name = "scripts"
  [[layer.step]]
  type = "copy"
  src = "scripts"
  dest = "/opt/app/bin/"

[[layer]]
name = "data"
  [[layer.step]]
  type = "copy"
  src = "data/a.txt"
  dest = "/srv/"
  owner = "1000:1000"

[[layer]]
name = "motd"
  [[layer.step]]
  type = "file"
  path = "/etc/motd"
  content = "hello\n"
  mode = 0o600

[config]
env = { LANG = "C.UTF-8" }
cmd = ["/opt/app/bin/run"]
labels = { "team" = "ml" }
)";

/// A project directory with the demo recipe and its build context.
fs::path make_project(const fs::path& dir) {
  put_file(dir / "strata.toml", k_recipe);
  put_file(dir / "scripts/run", "#!/bin/sh\necho run\n");
  fs::permissions(dir / "scripts/run", fs::perms::owner_all | fs::perms::group_read |
                                           fs::perms::group_exec | fs::perms::others_read |
                                           fs::perms::others_exec);
  put_file(dir / "scripts/lib/util.sh", "util() { :; }\n");
  fs::create_symlink("run", dir / "scripts/start");
  put_file(dir / "data/a.txt", "alpha\n");
  return dir;
}

builder::BuildResult build_dir(const fs::path& project, cache::Store& store,
                               builder::BuildOptions options = {}) {
  return builder::build(builder::load_recipe(project), store, options);
}

std::vector<bool> cached_flags(const builder::BuildResult& r) {
  std::vector<bool> out;
  for (const auto& l : r.layers) {
    out.push_back(l.cached);
  }
  return out;
}

}  // namespace

TEST_CASE("a second build of an unchanged project is all cached", "[builder][build]") {
  util::TempDir tmp("build");
  const fs::path project = make_project(tmp.path() / "p");
  cache::Store store(tmp.path() / "store");

  const auto first = build_dir(project, store);
  REQUIRE(first.layers.size() == 3);
  CHECK(cached_flags(first) == std::vector<bool>{false, false, false});
  CHECK(first.tag == "demo:latest");
  const auto second = build_dir(project, store);
  CHECK(cached_flags(second) == std::vector<bool>{true, true, true});
  CHECK(second.image.manifest == first.image.manifest);
  CHECK(second.image.config == first.image.config);

  const auto tag = store.find_tag("demo:latest");
  REQUIRE(tag);
  CHECK(tag->manifest == first.image.manifest);
  CHECK(store.has_blob(first.image.config));
}

TEST_CASE("changing one file rebuilds its layer and those above only", "[builder][build]") {
  util::TempDir tmp("build");
  const fs::path project = make_project(tmp.path() / "p");
  cache::Store store(tmp.path() / "store");
  const auto before = build_dir(project, store);

  put_file(project / "data/a.txt", "alpha, revised\n");
  const auto after = build_dir(project, store);
  CHECK(cached_flags(after) == std::vector<bool>{true, false, false});
  CHECK(after.layers[0].key == before.layers[0].key);
  CHECK(after.layers[0].digest == before.layers[0].digest);
  CHECK(after.layers[1].key != before.layers[1].key);
  CHECK(after.layers[1].digest != before.layers[1].digest);
  // The top layer's key follows its parent; its bytes do not depend on it.
  CHECK(after.layers[2].key != before.layers[2].key);
  CHECK(after.layers[2].digest == before.layers[2].digest);
  CHECK(after.image.manifest != before.image.manifest);

  // A mode change in the build context (exec bit) is an input too.
  fs::permissions(project / "data/a.txt", fs::perms::owner_exec, fs::perm_options::add);
  const auto exec = build_dir(project, store);
  CHECK(cached_flags(exec) == std::vector<bool>{true, false, false});
}

TEST_CASE("two empty stores give the same image digests", "[builder][build]") {
  util::TempDir tmp("build");
  const fs::path project = make_project(tmp.path() / "p");
  cache::Store a(tmp.path() / "a");
  cache::Store b(tmp.path() / "b");
  const auto ra = build_dir(project, a);
  const auto rb = build_dir(project, b);
  CHECK(ra.image.manifest == rb.image.manifest);
  CHECK(ra.image.config == rb.image.config);
  CHECK(a.read_blob(ra.image.manifest) == b.read_blob(rb.image.manifest));
  // A copy of the project elsewhere (another checkout) gives the same image too.
  const fs::path other = make_project(tmp.path() / "other");
  cache::Store c(tmp.path() / "c");
  CHECK(build_dir(other, c).image.manifest == ra.image.manifest);
}

TEST_CASE("layers hold normalised entries", "[builder][build]") {
  util::TempDir tmp("build");
  const fs::path project = make_project(tmp.path() / "p");
  cache::Store store(tmp.path() / "store");
  const auto r = build_dir(project, store);

  std::map<std::string, test::ReadEntry> entries;
  for (const auto& layer : r.layers) {
    for (auto& e : test::read_tar(store.read_blob(layer.digest))) {
      CHECK(e.mtime <= 1700000000);
      CHECK(e.uname.empty());
      entries[e.path] = e;
    }
  }
  auto get = [&](const std::string& p) -> const test::ReadEntry& {
    for (const auto& [path, e] : entries) {
      if (path == p || path == p + "/" || path == "./" + p) {
        return e;
      }
    }
    FAIL("no entry " << p);
    return entries.begin()->second;
  };
  CHECK(get("opt/app/bin/run").perm == 0755);
  CHECK(get("opt/app/bin/run").content == "#!/bin/sh\necho run\n");
  CHECK(get("opt/app/bin/run").mtime == 1700000000);
  CHECK(get("opt/app/bin/lib/util.sh").perm == 0644);
  CHECK(get("opt/app/bin/lib").type == AE_IFDIR);
  CHECK(get("opt/app/bin/start").type == AE_IFLNK);
  CHECK(get("opt/app/bin/start").symlink == "run");
  CHECK(get("opt").type == AE_IFDIR);
  CHECK(get("opt").perm == 0755);
  CHECK(get("srv/a.txt").uid == 1000);
  CHECK(get("srv/a.txt").gid == 1000);
  CHECK(get("srv/a.txt").content == "alpha\n");
  CHECK(get("etc/motd").perm == 0600);
  CHECK(get("etc/motd").content == "hello\n");
  CHECK(get("etc/motd").uid == 0);
}

TEST_CASE("the image config and manifest describe the recipe", "[builder][build]") {
  util::TempDir tmp("build");
  const fs::path project = make_project(tmp.path() / "p");
  cache::Store store(tmp.path() / "store");
  const auto recipe = builder::load_recipe(project);
  const auto r = builder::build(recipe, store, {});

  const auto config = oci::parse_image_config(store.read_blob(r.image.config), "config");
  CHECK(config.created == "2023-11-14T22:13:20Z");
  CHECK(config.os == oci::Platform::host().os);
  CHECK(config.architecture == oci::Platform::host().architecture);
  CHECK(config.config.env == std::vector<std::string>{"LANG=C.UTF-8"});
  CHECK(config.config.cmd == std::vector<std::string>{"/opt/app/bin/run"});
  CHECK(config.config.labels.at("team") == "ml");
  REQUIRE(config.diff_ids.size() == 3);
  REQUIRE(config.history.size() == 3);
  CHECK(config.history[0].created_by == "strata: layer scripts (copy scripts -> /opt/app/bin/)");
  CHECK(config.diff_ids[1] == r.layers[1].diff_id);

  const auto manifest = oci::parse_manifest(store.read_blob(r.image.manifest), "manifest");
  REQUIRE(manifest.layers.size() == 3);
  CHECK(manifest.layers[0].media_type == "application/vnd.oci.image.layer.v1.tar+zstd");
  CHECK(manifest.annotations.at("org.opencontainers.image.title") == "demo");
  CHECK(manifest.annotations.at("org.opencontainers.image.created") == "2023-11-14T22:13:20Z");
  CHECK(manifest.annotations.at("dev.strata.recipe.digest") ==
        builder::recipe_identity(recipe).str());
  CHECK(manifest.annotations.count("org.opencontainers.image.base.digest") == 0);
}

TEST_CASE("SOURCE_DATE_EPOCH from the environment, compression and tags", "[builder][build]") {
  util::TempDir tmp("build");
  cache::Store store(tmp.path() / "store");
  put_file(tmp.path() / "p/strata.toml",
           "[recipe]\nname = \"gz\"\ncompression = \"gzip\"\n[[layer]]\n[[layer.step]]\n"
           "type = \"file\"\npath = \"/x\"\ncontent = \"x\"\n");
  builder::BuildOptions options;
  options.env_source_date_epoch = 1234;
  options.tag = "team/gz:v1";
  const auto r = build_dir(tmp.path() / "p", store, options);
  CHECK(r.tag == "team/gz:v1");
  CHECK(store.find_tag("team/gz:v1"));
  CHECK(r.layers[0].media_type == "application/vnd.oci.image.layer.v1.tar+gzip");
  const auto config = oci::parse_image_config(store.read_blob(r.image.config), "config");
  CHECK(config.created == "1970-01-01T00:20:34Z");
  CHECK(r.layers[0].created_by == "strata: layer 1 (file /x)");

  options.tag = "bad:tag:!";
  CHECK(catch_error([&] { build_dir(tmp.path() / "p", store, options); }).kind() ==
        util::ErrorKind::InvalidInput);
}

TEST_CASE("a failed build leaves no layer behind for the failed layer", "[builder][build]") {
  util::TempDir tmp("build");
  const fs::path project = tmp.path() / "p";
  put_file(
      project / "strata.toml",
      "[recipe]\nname = \"fails\"\n"
      "[[layer]]\nname = \"one\"\n[[layer.step]]\ntype = \"copy\"\nsrc = \"a\"\ndest = \"/a\"\n"
      "[[layer]]\nname = \"two\"\n[[layer.step]]\ntype = \"copy\"\nsrc = \"b\"\ndest = \"/b\"\n");
  put_file(project / "a", "a\n");
  put_file(project / "b", "b\n");
  cache::Store store(tmp.path() / "store");
  const auto recipe = builder::load_recipe(project);
  fs::remove(project / "b");  // vanishes between parsing and building

  std::vector<std::string> started;
  builder::BuildOptions options;
  options.progress = [&](const builder::LayerProgress& p) {
    if (!p.done) {
      started.push_back(p.description);
    }
  };
  const util::Error e = catch_error([&] { builder::build(recipe, store, options); });
  CHECK(e.kind() == util::ErrorKind::InvalidInput);
  CHECK(std::string(e.what()).find((project / "strata.toml").string() + ":11:") == 0);
  CHECK(std::string(e.what()).find("'b'") != std::string::npos);
  CHECK(started.size() == 2);
  CHECK_FALSE(store.find_tag("fails:latest"));
  CHECK(store.list_blobs().size() == 1);  // layer one only

  put_file(project / "b", "b\n");
  const auto ok = build_dir(project, store);
  CHECK(cached_flags(ok) == std::vector<bool>{true, false});
}

TEST_CASE("`from` composes: parent layers identical, config merged", "[builder][build]") {
  util::TempDir tmp("build");
  const fs::path base = tmp.path() / "base";
  put_file(base / "strata.toml",
           "[recipe]\nname = \"base\"\nsource_date_epoch = 100\n"
           "[[layer]]\nname = \"etc\"\n[[layer.step]]\ntype = \"copy\"\nsrc = \"etc\"\n"
           "dest = \"/etc/\"\n"
           "[config]\nenv = { A = \"1\", B = \"1\" }\nuser = \"1000\"\n"
           "labels = { tier = \"base\", keep = \"yes\" }\n");
  put_file(base / "etc/os-release", "ID=demo\n");
  const fs::path app = tmp.path() / "app";
  put_file(app / "strata.toml",
           "[recipe]\nname = \"app\"\nfrom = \"../base/strata.toml\"\nsource_date_epoch = 200\n"
           "[[layer]]\nname = \"code\"\n[[layer.step]]\ntype = \"file\"\npath = \"/app/main.py\"\n"
           "content = \"print(1)\\n\"\n"
           "[config]\nenv = { B = \"2\" }\ncmd = [\"python3\", \"/app/main.py\"]\n"
           "labels = { tier = \"app\" }\n");
  cache::Store store(tmp.path() / "store");

  const auto parent = build_dir(base, store);
  const auto child = build_dir(app, store);
  REQUIRE(child.layers.size() == 2);
  CHECK(child.layers[0].cached);
  CHECK(child.layers[0].key == parent.layers[0].key);
  CHECK(child.layers[0].digest == parent.layers[0].digest);
  CHECK_FALSE(child.layers[1].cached);

  const auto config = oci::parse_image_config(store.read_blob(child.image.config), "config");
  CHECK(config.config.env == std::vector<std::string>{"A=1", "B=2"});
  CHECK(config.config.user == "1000");
  CHECK(config.config.cmd == std::vector<std::string>{"python3", "/app/main.py"});
  CHECK(config.config.labels ==
        std::map<std::string, std::string>{{"keep", "yes"}, {"tier", "app"}});
  CHECK(config.created == "1970-01-01T00:03:20Z");
  REQUIRE(config.history.size() == 2);
  CHECK(config.history[0].created == "1970-01-01T00:01:40Z");  // the parent's time

  const auto manifest = oci::parse_manifest(store.read_blob(child.image.manifest), "manifest");
  CHECK(manifest.annotations.at("org.opencontainers.image.base.name") == "base");
  CHECK(manifest.annotations.at("org.opencontainers.image.base.digest") ==
        parent.image.manifest.str());
  CHECK(store.find_tag("app:latest"));
}
