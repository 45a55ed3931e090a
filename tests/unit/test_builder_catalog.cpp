// The recipe catalog: lookup order (--catalog, STRATA_CATALOG), listing, `use` stacking
// (shared bases once, layer order, config merge, identity), located errors, and the
// catalog shipped in recipes/ (every recipe parses and agrees with its committed lock).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "builder/build.hpp"
#include "builder/catalog.hpp"
#include "builder/debian_stack.hpp"
#include "builder/lock.hpp"
#include "builder/recipe.hpp"
#include "builder_test_support.hpp"
#include "util/fs.hpp"

using namespace strata;
using strata::test::catch_error;
using strata::test::put_file;
namespace fs = std::filesystem;

namespace {

// Sets the catalog directories and STRATA_CATALOG for one test; restores both after it.
class CatalogScope {
 public:
  CatalogScope(std::vector<fs::path> dirs, std::optional<std::string> env) {
    if (const char* old = std::getenv("STRATA_CATALOG"); old != nullptr) {
      m_old_env = old;
    }
    if (env) {
      ::setenv("STRATA_CATALOG", env->c_str(), 1);
    } else {
      ::unsetenv("STRATA_CATALOG");
    }
    builder::set_catalog_dirs(std::move(dirs));
  }
  ~CatalogScope() {
    builder::set_catalog_dirs({});
    if (m_old_env) {
      ::setenv("STRATA_CATALOG", m_old_env->c_str(), 1);
    } else {
      ::unsetenv("STRATA_CATALOG");
    }
  }
  CatalogScope(const CatalogScope&) = delete;
  CatalogScope& operator=(const CatalogScope&) = delete;

 private:
  std::optional<std::string> m_old_env;
};

// A small recipe with one file step (no Debian, no network).
std::string small_recipe(const std::string& name, const std::string& extra_recipe_keys,
                         const std::string& file_path, const std::string& config) {
  return "[recipe]\nname = \"" + name + "\"\nsummary = \"the " + name + " recipe\"\n" +
         extra_recipe_keys + "\n[[layer]]\nname = \"" + name +
         "\"\n  [[layer.step]]\n  type = \"file\"\n  path = \"" + file_path + "\"\n  content = \"" +
         name + "\\n\"\n\n[config]\n" + config;
}

// A catalog in DIR: t/base, t/a and t/b (both from t/base).
void write_test_catalog(const fs::path& dir) {
  put_file(dir / "t/base.toml",
           small_recipe("base", "", "/etc/base",
                        "env = { A = \"base\", B = \"base\" }\nports = [\"22\"]\n"));
  put_file(dir / "t/a.toml",
           small_recipe("a", "from = \"t/base\"", "/etc/a",
                        "env = { B = \"a\" }\nuser = \"1000:1000\"\nports = [\"8888/tcp\"]\n"));
  put_file(dir / "t/b.toml", small_recipe("b", "from = \"t/base\"", "/etc/b",
                                          "env = { C = \"b\" }\ncmd = [\"b\"]\n"));
}

// Names of the recipes of a stack, bottom first.
std::vector<std::string> stack_names(const builder::Recipe& top) {
  std::vector<std::string> out;
  for (const builder::Recipe* r = &top; r != nullptr; r = r->parent.get()) {
    out.insert(out.begin(), r->name);
  }
  return out;
}

// Layer names of a stack, bottom first.
std::vector<std::string> stack_layers(const builder::Recipe& top) {
  std::vector<std::string> out;
  for (const builder::Recipe* r = &top; r != nullptr; r = r->parent.get()) {
    for (auto it = r->layers.rbegin(); it != r->layers.rend(); ++it) {
      out.insert(out.begin(), it->name);
    }
  }
  return out;
}

// The source tree's recipes/ (this file is tests/unit/test_builder_catalog.cpp).
fs::path source_catalog() {
  return fs::path(__FILE__).parent_path().parent_path().parent_path() / "recipes";
}

}  // namespace

TEST_CASE("catalog lookup: --catalog dirs first, then STRATA_CATALOG, first match wins",
          "[builder][catalog]") {
  util::TempDir tmp("catalog");
  const fs::path a = tmp.path() / "a";
  const fs::path b = tmp.path() / "b";
  const fs::path c = tmp.path() / "c";
  put_file(a / "grp/x.toml", small_recipe("x-from-a", "", "/x", ""));
  put_file(b / "grp/x.toml", small_recipe("x-from-b", "", "/x", ""));
  put_file(b / "grp/y.toml", small_recipe("y-from-b", "", "/y", ""));
  put_file(c / "grp/y.toml", small_recipe("y-from-c", "", "/y", ""));

  {
    CatalogScope scope({a}, b.string() + ":" + c.string());
    const auto dirs = builder::catalog_dirs();
    REQUIRE(dirs.size() >= 3);
    CHECK(dirs[0] == fs::canonical(a));
    CHECK(dirs[1] == fs::canonical(b));
    CHECK(dirs[2] == fs::canonical(c));
    CHECK(builder::load_recipe(builder::find_catalog_recipe("grp/x")).name == "x-from-a");
    // Not in a: STRATA_CATALOG's directories in their order.
    CHECK(builder::load_recipe(builder::find_catalog_recipe("grp/y")).name == "y-from-b");
  }
  {
    CatalogScope scope({}, c.string() + ":" + b.string());
    CHECK(builder::load_recipe(builder::find_catalog_recipe("grp/y")).name == "y-from-c");
    CHECK(builder::load_recipe(builder::find_catalog_recipe("grp/x")).name == "x-from-b");
  }
  {
    // --catalog before the environment, whatever the environment says.
    CatalogScope scope({c, b}, a.string());
    CHECK(builder::load_recipe(builder::find_catalog_recipe("grp/x")).name == "x-from-b");
    CHECK(builder::load_recipe(builder::find_catalog_recipe("grp/y")).name == "y-from-c");
  }
  {
    CatalogScope scope({a}, std::nullopt);
    const auto missing = catch_error([] { (void)builder::find_catalog_recipe("grp/zzz"); });
    CHECK(missing.kind() == util::ErrorKind::NotFound);
    CHECK_THAT(missing.what(),
               Catch::Contains("grp/zzz") && Catch::Contains(fs::canonical(a).string()));
    const auto bad = catch_error([] { (void)builder::find_catalog_recipe("../etc/passwd"); });
    CHECK(bad.kind() == util::ErrorKind::InvalidInput);
    CHECK(catch_error([] { (void)builder::find_catalog_recipe("Grp/X"); }).kind() ==
          util::ErrorKind::InvalidInput);
  }
}

TEST_CASE("catalog listing: sorted, first directory wins, templates apart", "[builder][catalog]") {
  util::TempDir tmp("catalog");
  const fs::path a = tmp.path() / "a";
  const fs::path b = tmp.path() / "b";
  put_file(a / "zeta/last.toml", small_recipe("last", "", "/z", ""));
  put_file(a / "grp/x.toml", small_recipe("x-from-a", "", "/x", ""));
  put_file(b / "grp/x.toml", small_recipe("x-from-b", "", "/x", ""));
  put_file(b / "alpha.toml", small_recipe("alpha", "", "/a", ""));
  put_file(b / "grp/README.md", "not a recipe\n");
  put_file(b / "grp/Upper Case.toml", small_recipe("skipped", "", "/s", ""));
  put_file(a / "templates/proj.toml", small_recipe("my-project", "", "/p", ""));
  put_file(b / "templates/other.toml", small_recipe("my-project", "", "/p", ""));

  const auto list = builder::list_catalog({a, b});
  std::vector<std::string> names;
  for (const auto& e : list) {
    names.push_back(e.name);
  }
  CHECK(names == std::vector<std::string>{"alpha", "grp/x", "zeta/last"});
  CHECK(list[1].file == a / "grp/x.toml");
  CHECK(list[1].dir == a);

  CatalogScope scope({a, b}, std::nullopt);
  const auto templates = builder::list_templates();
  REQUIRE(templates.size() >= 2);
  CHECK(templates[0].name == "other");
  CHECK(templates[1].name == "proj");
  CHECK(builder::find_template("proj") == a / "templates/proj.toml");
  const auto missing = catch_error([] { (void)builder::find_template("nope"); });
  CHECK(missing.kind() == util::ErrorKind::NotFound);
  CHECK_THAT(missing.what(), Catch::Contains("other") && Catch::Contains("proj"));
}

TEST_CASE("use stacks catalog recipes: a shared base once, layers in order, config merged",
          "[builder][catalog]") {
  util::TempDir tmp("catalog");
  write_test_catalog(tmp.path() / "cat");
  CatalogScope scope({tmp.path() / "cat"}, std::nullopt);

  const fs::path project = tmp.path() / "project/strata.toml";
  put_file(project, small_recipe("proj", "from = \"t/base\"\nuse = [\"t/a\", \"t/b\"]", "/etc/proj",
                                 "env = { A = \"proj\" }\n"));
  const builder::Recipe r = builder::load_recipe(project);
  CHECK(r.from == "t/base");
  CHECK(r.use == std::vector<std::string>{"t/a", "t/b"});
  CHECK(stack_names(r) == std::vector<std::string>{"base", "a", "b", "proj"});
  CHECK(stack_layers(r) == std::vector<std::string>{"base", "a", "b", "proj"});

  const builder::ConfigSpec config = builder::effective_config(r);
  CHECK(config.env.at("A") == "proj");  // the project wins
  CHECK(config.env.at("B") == "a");     // a used recipe over the base
  CHECK(config.env.at("C") == "b");
  CHECK(config.user == std::optional<std::string>("1000:1000"));
  CHECK(config.cmd == std::optional<std::vector<std::string>>({"b"}));
  CHECK(config.ports == std::vector<std::string>{"22/tcp", "8888/tcp"});

  SECTION("without from, the used recipes bring their own base, once") {
    put_file(project, small_recipe("proj", "use = [\"t/b\", \"t/a\"]", "/etc/proj", ""));
    const builder::Recipe r2 = builder::load_recipe(project);
    CHECK(stack_names(r2) == std::vector<std::string>{"base", "b", "a", "proj"});
    // Order of `use` is the order of layers, and a later recipe's config wins.
    CHECK(builder::effective_config(r2).env.at("B") == "a");
  }
  SECTION("a used recipe listed twice is stacked once") {
    put_file(project, small_recipe("proj", "use = [\"t/a\", \"t/a\"]", "/etc/proj", ""));
    CHECK(stack_names(builder::load_recipe(project)) ==
          std::vector<std::string>{"base", "a", "proj"});
  }
}

TEST_CASE("identity follows the used recipes' content and place in the stack",
          "[builder][catalog]") {
  util::TempDir tmp("catalog");
  const fs::path cat = tmp.path() / "cat";
  write_test_catalog(cat);
  CatalogScope scope({cat}, std::nullopt);
  const fs::path project = tmp.path() / "project/strata.toml";
  put_file(project, small_recipe("proj", "use = [\"t/a\", \"t/b\"]", "/etc/proj", ""));

  const oci::Digest before = builder::recipe_identity(builder::load_recipe(project));
  // A comment in a used recipe changes nothing.
  put_file(cat / "t/b.toml", "# a comment\n" + util::read_file(cat / "t/b.toml"));
  CHECK(builder::recipe_identity(builder::load_recipe(project)) == before);
  // Content of a used recipe does, through the stack.
  put_file(cat / "t/a.toml",
           small_recipe("a", "from = \"t/base\"", "/etc/a-changed",
                        "env = { B = \"a\" }\nuser = \"1000:1000\"\nports = [\"8888/tcp\"]\n"));
  const builder::Recipe changed = builder::load_recipe(project);
  CHECK(builder::recipe_identity(changed) != before);

  // b stacked on a is not b alone: its identity (and so its layer keys) follow what is
  // below it, while its own layers stay as written.
  const builder::Recipe b_alone = builder::load_recipe(cat / "t/b.toml");
  REQUIRE(changed.parent != nullptr);
  CHECK(changed.parent->name == "b");
  CHECK(builder::recipe_identity(*changed.parent) != builder::recipe_identity(b_alone));
  CHECK(builder::layer_definition_json(changed.parent->layers.at(0)) ==
        builder::layer_definition_json(b_alone.layers.at(0)));
}

TEST_CASE("a missing catalog recipe is named at file:line:col", "[builder][catalog]") {
  util::TempDir tmp("catalog");
  write_test_catalog(tmp.path() / "cat");
  CatalogScope scope({tmp.path() / "cat"}, std::nullopt);
  const fs::path project = tmp.path() / "project/strata.toml";

  put_file(project, "[recipe]\nname = \"proj\"\nuse = [\"t/a\",\n       \"t/missing\"]\n");
  const auto used = catch_error([&] { (void)builder::load_recipe(project); });
  CHECK(used.kind() == util::ErrorKind::InvalidInput);
  CHECK_THAT(used.what(), Catch::StartsWith(project.string() + ":4:8:") &&
                              Catch::Contains("t/missing") && Catch::Contains("not found"));

  put_file(project, "[recipe]\nname = \"proj\"\nfrom = \"t/nothere\"\n");
  const auto from = catch_error([&] { (void)builder::load_recipe(project); });
  CHECK(from.kind() == util::ErrorKind::InvalidInput);
  CHECK_THAT(from.what(),
             Catch::StartsWith(project.string() + ":3:8:") && Catch::Contains("t/nothere"));

  // An error inside a used recipe names that recipe's file.
  put_file(tmp.path() / "cat/t/broken.toml", "[recipe]\nname = \"broken\"\nbogus = 1\n");
  put_file(project, "[recipe]\nname = \"proj\"\nuse = [\"t/broken\"]\n");
  const auto inner = catch_error([&] { (void)builder::load_recipe(project); });
  CHECK_THAT(inner.what(), Catch::Contains("broken.toml:3:1") && Catch::Contains("bogus"));
}

TEST_CASE("the shipped catalog: every recipe parses, has a summary and agrees with its lock",
          "[builder][catalog]") {
  const fs::path recipes = source_catalog();
  REQUIRE(fs::is_directory(recipes / "base"));
  CatalogScope scope({recipes}, std::nullopt);
  const auto list = builder::list_catalog({recipes});
  std::vector<std::string> names;
  for (const auto& e : list) {
    names.push_back(e.name);
  }
  for (const char* expected :
       {"base/debian-trixie", "cuda/12.4-runtime", "cuda/12.4-devel", "frameworks/scipy",
        "frameworks/xgboost", "frameworks/pytorch", "frameworks/pytorch-cuda", "ide/jupyterlab",
        "ide/notebook", "bigdata/kafka", "bigdata/jvm", "bigdata/postgres", "bigdata/spark"}) {
    CHECK(std::find(names.begin(), names.end(), expected) != names.end());
  }
  for (const auto& e : list) {
    INFO(e.name);
    const builder::Recipe r = builder::load_recipe(e.file);
    CHECK_FALSE(r.summary.empty());
    const auto lock = builder::read_lock(builder::lock_path_for(e.file));
    REQUIRE(lock.has_value());  // every catalog recipe ships its lock
    CHECK(builder::lock_disagreement(r, *lock).empty());
  }
  // The `strata init` templates parse against this catalog.
  const auto templates = builder::list_templates();
  std::vector<std::string> template_names;
  for (const auto& t : templates) {
    template_names.push_back(t.name);
    INFO(t.name);
    const builder::Recipe r = builder::load_recipe(t.file);
    CHECK(r.from == "base/debian-trixie");
    CHECK_FALSE(r.use.empty());
  }
  CHECK(template_names ==
        std::vector<std::string>{"pytorch-cuda-jupyter", "scipy-jupyter", "spark-client"});
}
