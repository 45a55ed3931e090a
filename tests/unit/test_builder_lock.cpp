// strata.lock: text round trip, diffs, errors with positions, and agreement with recipes.
#include <catch2/catch.hpp>

#include "builder/debian_stack.hpp"
#include "builder/lock.hpp"
#include "builder/recipe.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace strata;
using builder::Lock;
using builder::LockedLayer;
using builder::LockedPackage;

namespace {

LockedPackage pkg(const std::string& name, const std::string& version, char fill) {
  LockedPackage p;
  p.name = name;
  p.version = version;
  p.architecture = "amd64";
  p.sha256 = oci::Digest::parse("sha256:" + std::string(64, fill));
  p.size = 1234;
  p.path = "pool/main/" + name.substr(0, 1) + "/" + name + "/" + name + "_" + version + "_amd64.deb";
  p.archive = "trixie/main";
  return p;
}

Lock sample() {
  Lock lock;
  builder::LockedArchive a;
  a.suite = "trixie";
  a.codename = "trixie";
  a.components = {"main", "contrib"};
  a.architectures = {"amd64"};
  a.inrelease = oci::Digest::of("inrelease");
  a.date_epoch = 1717200000;
  lock.archive = a;
  LockedLayer base{"debian-trixie", "base", oci::Digest::of("r1"), {pkg("bash", "5.2-1", 'a')}};
  LockedLayer apps{"project", "#2", oci::Digest::of("r2"),
                   {pkg("hello", "2.10-3", 'b'), pkg("python3", "3.12.6-1", 'c')}};
  lock.layers = {base, apps};
  return lock;
}

}  // namespace

TEST_CASE("a lock survives writing and reading unchanged", "[builder][lock]") {
  const Lock lock = sample();
  const std::string text = builder::lock_text(lock);
  const Lock back = builder::parse_lock(text, "strata.lock");
  CHECK(builder::lock_text(back) == text);
  REQUIRE(back.layers.size() == 2);
  CHECK(back.layers[1].packages[1].name == "python3");
  CHECK(back.layers[1].packages[1].sha256 == lock.layers[1].packages[1].sha256);
  CHECK(back.archive->date_epoch == 1717200000);
  CHECK(back.find("project", "#2") != nullptr);
  CHECK(back.find("project", "#3") == nullptr);
  // One package per line: a version bump is a one-line diff.
  CHECK(text.find("{ name = \"hello\", version = \"2.10-3\"") != std::string::npos);

  util::TempDir tmp("lock");
  const auto file = tmp.path() / "strata.lock";
  CHECK_FALSE(builder::read_lock(file).has_value());
  builder::write_lock(file, lock);
  CHECK(builder::read_lock(file)->digest() == lock.digest());
  CHECK(builder::lock_path_for("x/strata.toml") == std::filesystem::path("x/strata.lock"));
  CHECK(builder::lock_path_for("recipes/base/debian-trixie.toml") ==
        std::filesystem::path("recipes/base/debian-trixie.lock"));
}

TEST_CASE("lock diffs list package changes per layer", "[builder][lock]") {
  const Lock before = sample();
  Lock after = sample();
  after.layers[1].packages[0] = pkg("hello", "2.12-1", 'd');  // upgraded
  after.layers[1].packages.erase(after.layers[1].packages.begin() + 1);  // removed
  after.layers[0].packages.push_back(pkg("zlib1g", "1.3-1", 'e'));  // added
  const auto changes = builder::diff_locks(before, after);
  REQUIRE(changes.size() == 3);
  CHECK(changes[0].layer == "debian-trixie/base");
  CHECK(changes[0].name == "zlib1g:amd64");
  CHECK(changes[0].old_version.empty());
  CHECK(changes[1].name == "hello:amd64");
  CHECK(changes[1].old_version == "2.10-3");
  CHECK(changes[1].new_version == "2.12-1");
  CHECK(changes[2].name == "python3:amd64");
  CHECK(changes[2].new_version.empty());
  CHECK(builder::diff_locks(before, before).empty());
}

TEST_CASE("bad lock files are refused with a position", "[builder][lock]") {
  const std::string good = builder::lock_text(sample());
  auto fails_with = [](const std::string& text, const std::string& needle) {
    try {
      builder::parse_lock(text, "p/strata.lock");
      FAIL("accepted: " << text);
    } catch (const util::Error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
      CHECK(std::string(e.what()).find("p/strata.lock") != std::string::npos);
    }
  };
  fails_with("version = 9\n", "version 9 is not supported");
  fails_with("", "missing 'version'");
  std::string bad_sha = good;
  bad_sha.replace(bad_sha.find(std::string(64, 'b')), 64, "xyz");
  fails_with(bad_sha, "'sha256' of package hello");
  std::string escape = good;
  escape.replace(escape.find("pool/main/h/hello"), 17, "../../etc/passwd");
  fails_with(escape, "relative archive path");
  fails_with(good + "colour = 1\n", "unknown key 'colour'");
}

TEST_CASE("a recipe's debian layers chain their requests", "[builder][lock]") {
  util::TempDir tmp("lockrecipe");
  const auto dir = tmp.path();
  util::write_file_atomic(dir / "base.toml",
                          "[recipe]\nname = \"base\"\n[debian]\nsuite = \"trixie\"\n"
                          "[[layer]]\nname = \"os\"\n[[layer.step]]\ntype = \"debian\"\n"
                          "priority = \"minbase\"\n");
  auto project = [&](const std::string& packages) {
    util::write_file_atomic(dir / "strata.toml",
                            "[recipe]\nname = \"p\"\nfrom = \"base.toml\"\n"
                            "[debian]\ncomponents = [\"contrib\"]\n"
                            "[[layer]]\n[[layer.step]]\ntype = \"debian\"\npackages = [" +
                                packages + "]\n");
    return builder::load_recipe(dir / "strata.toml");
  };
  const auto r1 = project("\"hello\"");
  const auto layers = builder::debian_layers(r1);
  REQUIRE(layers.size() == 2);
  CHECK(layers[0].layer_id == "os");
  CHECK(layers[1].layer_id == "#1");
  // The child adds a component: main stays (inherited), suite inherited.
  const auto spec = builder::effective_debian_spec(r1);
  REQUIRE(spec.has_value());
  CHECK(spec->suite == "trixie");
  CHECK(spec->components == std::vector<std::string>{"contrib", "main"});

  Lock lock;
  lock.archive = builder::LockedArchive{};
  for (const auto& l : layers) {
    lock.layers.push_back(LockedLayer{l.recipe->name, l.layer_id, l.request, {}});
  }
  CHECK(builder::lock_disagreement(r1, lock).empty());
  const auto r2 = project("\"hello\", \"gawk\"");
  const std::string why = builder::lock_disagreement(r2, lock);
  CHECK(why.find("p/#1") != std::string::npos);
  // The base layer's request is unchanged: only the project's layer disagrees.
  CHECK(builder::debian_layers(r2)[0].request == layers[0].request);
  CHECK(builder::debian_layers(r2)[1].request != layers[1].request);
}
