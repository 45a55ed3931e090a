// Recipe parsing, validation with file:line:col errors, and canonical identity.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>

#include "builder/recipe.hpp"
#include "builder_test_support.hpp"
#include "util/fs.hpp"

using namespace strata;
using strata::test::catch_error;
using strata::test::put_file;
using strata::test::recipe_error;
namespace fs = std::filesystem;

namespace {

const char* const k_full = R"(# a full recipe
[recipe]
name = "example"
summary = "one line"
source_date_epoch = 1700000000
compression = "gzip"

[[layer]]
name = "tools"
  [[layer.step]]
  type = "copy"
  src = "files/bin"
  dest = "/usr/local/bin/"
  mode = 0o755
  owner = "1000:1001"
  [[layer.step]]
  type = "file"
  path = "/etc//motd"
  content = "hello\n"
  mode = "0600"

[[layer]]
  [[layer.step]]
  type = "copy"
  src = "./files/data.txt"
  dest = "/srv/data.txt"

[config]
env = { LANG = "C.UTF-8", PATH = "/usr/bin" }
entrypoint = ["/bin/sh", "-c"]
cmd = ["echo hi"]
workdir = "/work"
user = "1000:1000"
labels = { "org.example.team" = "ml" }
annotations = { "org.opencontainers.image.source" = "https://example.invalid/repo" }
ports = ["8888", "53/udp", "8888/tcp"]
)";

void make_context(const fs::path& dir) {
  put_file(dir / "files/bin/tool", "#!/bin/sh\necho tool\n");
  put_file(dir / "files/data.txt", "data\n");
}

/// The location prefix "DIR/strata.toml:LINE:COL: ".
std::string at(const fs::path& dir, int line, int col) {
  return (dir / "strata.toml").string() + ":" + std::to_string(line) + ":" + std::to_string(col) +
         ": ";
}

}  // namespace

TEST_CASE("a full recipe parses into its normalised model", "[builder][recipe]") {
  util::TempDir tmp("recipe");
  make_context(tmp.path());
  put_file(tmp.path() / "strata.toml", k_full);
  const builder::Recipe r = builder::load_recipe(tmp.path());  // a directory works too

  CHECK(r.name == "example");
  CHECK(r.summary == "one line");
  CHECK(r.source_date_epoch == 1700000000);
  CHECK(r.compression == oci::Compression::Gzip);
  CHECK(r.dir == tmp.path());
  REQUIRE(r.layers.size() == 2);
  CHECK(r.layers[0].name == "tools");
  REQUIRE(r.layers[0].steps.size() == 2);
  const auto& copy = std::get<builder::CopyStep>(r.layers[0].steps[0]);
  CHECK(copy.src == "files/bin");
  CHECK(copy.dest == "/usr/local/bin");
  CHECK(copy.dest_is_dir);
  CHECK(copy.mode == 0755u);
  REQUIRE(copy.owner);
  CHECK(copy.owner->uid == 1000);
  CHECK(copy.owner->gid == 1001);
  CHECK(copy.location.line == 10);
  const auto& file = std::get<builder::FileStep>(r.layers[0].steps[1]);
  CHECK(file.path == "/etc/motd");
  CHECK(file.content == "hello\n");
  CHECK(file.mode == 0600u);
  CHECK(r.layers[1].name.empty());
  const auto& copy2 = std::get<builder::CopyStep>(r.layers[1].steps[0]);
  CHECK(copy2.src == "files/data.txt");
  CHECK_FALSE(copy2.dest_is_dir);
  CHECK_FALSE(copy2.mode);

  CHECK(r.config.env.at("LANG") == "C.UTF-8");
  CHECK(r.config.entrypoint == std::vector<std::string>{"/bin/sh", "-c"});
  CHECK(r.config.cmd == std::vector<std::string>{"echo hi"});
  CHECK(r.config.workdir == "/work");
  CHECK(r.config.user == "1000:1000");
  CHECK(r.config.labels.at("org.example.team") == "ml");
  CHECK(r.config.annotations.size() == 1);
  CHECK(r.config.ports == std::vector<std::string>{"53/udp", "8888/tcp"});
}

TEST_CASE("recipe errors name file:line:col", "[builder][recipe]") {
  util::TempDir tmp("recipe");
  const fs::path d = tmp.path();
  make_context(d);
  using K = util::ErrorKind;

  struct Case {
    const char* what;
    std::string text;
    int line;
    int col;
    const char* needle;
    K kind = K::InvalidInput;
  };
  const std::string head = "[recipe]\nname = \"x\"\n";
  const std::string layer = "[[layer]]\n[[layer.step]]\n";
  const std::vector<Case> cases = {
      {"unknown key in [recipe]", "[recipe]\nname = \"x\"\nnmae = \"y\"\n", 3, 1,
       "unknown key 'nmae' in [recipe]"},
      {"unknown top-level table", head + "[confg]\nenv = {}\n", 3, 2, "unknown key 'confg'"},
      {"unknown key in a step",
       head + layer + "type = \"file\"\npath = \"/a\"\ncontent = \"\"\ncolour = 1\n", 8, 1,
       "unknown key 'colour' in a file step"},
      {"unknown key in [config]", head + "[config]\nentry = [\"a\"]\n", 4, 1,
       "unknown key 'entry' in [config]"},
      {"wrong type of name", "[recipe]\nname = 5\n", 2, 8, "'name' in [recipe] must be a string"},
      {"wrong type in cmd", head + "[config]\ncmd = \"echo\"\n", 4, 7,
       "'cmd' in [config] must be an array of strings"},
      {"wrong element type in env", head + "[config]\nenv = { A = 1 }\n", 4, 13,
       "'env.A' in [config] must be a string"},
      {"missing name", "[recipe]\nsummary = \"s\"\n", 1, 1, "missing the required key 'name'"},
      {"bad name", "[recipe]\nname = \"Bad Name\"\n", 2, 8, "must match [a-z0-9]"},
      {"missing [recipe]", "[config]\nuser = \"1\"\n", 1, 1, "missing the [recipe] table"},
      {"mode out of range",
       head + layer + "type = \"file\"\npath = \"/a\"\ncontent = \"\"\nmode = 0o17777\n", 8, 8,
       "permission mode"},
      {"mode not octal",
       head + layer + "type = \"file\"\npath = \"/a\"\ncontent = \"\"\nmode = \"0789\"\n", 8, 8,
       "permission mode"},
      {"mode of wrong type",
       head + layer + "type = \"file\"\npath = \"/a\"\ncontent = \"\"\nmode = true\n", 8, 8,
       "'mode' in a file step must be"},
      {"absolute src", head + layer + "type = \"copy\"\nsrc = \"/etc/passwd\"\ndest = \"/x\"\n", 6,
       7, "must be relative to the recipe directory"},
      {"escaping src", head + layer + "type = \"copy\"\nsrc = \"files/../../x\"\ndest = \"/x\"\n",
       6, 7, "leaves the recipe directory"},
      {"missing src", head + layer + "type = \"copy\"\nsrc = \"files/nope.txt\"\ndest = \"/x\"\n",
       6, 7, "copy source 'files/nope.txt' does not exist"},
      {"relative dest", head + layer + "type = \"copy\"\nsrc = \"files\"\ndest = \"x\"\n", 7, 8,
       "must be an absolute path"},
      {"missing dest", head + layer + "type = \"copy\"\nsrc = \"files\"\n", 4, 1,
       "missing the required key 'dest'"},
      {"layer without steps", head + "[[layer]]\nname = \"a\"\n", 3, 1, "at least one"},
      {"bad port", head + "[config]\nports = [\"http\"]\n", 4, 10, "port \"http\""},
      {"bad owner",
       head + layer + "type = \"file\"\npath = \"/a\"\ncontent = \"\"\nowner = \"root\"\n", 8, 9,
       "numeric \"UID:GID\""},
      {"unknown step type", head + layer + "type = \"bake\"\n", 5, 8, "unknown step type 'bake'"},
      {"debian step without [debian]", head + layer + "type = \"debian\"\npackages = [\"a\"]\n",
       4, 1, "needs a [debian] table with 'suite'"},
      {"debian step without packages",
       head + "[debian]\nsuite = \"trixie\"\n" + layer + "type = \"debian\"\n", 6, 1,
       "needs 'packages'"},
      {"bad priority",
       head + "[debian]\nsuite = \"trixie\"\n" + layer +
           "type = \"debian\"\npriority = \"all\"\n",
       8, 12, "'priority' in a debian step must be"},
      {"file and run steps in one layer",
       head + layer + "type = \"file\"\npath = \"/a\"\ncontent = \"\"\n[[layer.step]]\ntype = \"run\"\n"
                      "command = \"true\"\n",
       4, 1, "mixes file steps"},
      {"run without command", head + layer + "type = \"run\"\n", 4, 1, "needs 'command'"},
      {"fetch with two digests",
       head + layer + "type = \"fetch\"\nurl = \"https://example.invalid/a.tgz\"\ndest = \"/a\"\n"
                      "sha256 = \"00\"\nsha512 = \"00\"\n",
       4, 1, "exactly one of 'sha256' or 'sha512'"},
      {"fetch with a short digest",
       head + layer + "type = \"fetch\"\nurl = \"https://example.invalid/a.tgz\"\ndest = \"/a\"\n"
                      "sha256 = \"abc\"\n",
       8, 10, "64 hexadecimal digits"},
      {"reserved step type? none left", head + layer + "type = \"bake2\"\n", 5, 8,
       "known: copy, file, fetch, debian, run"},
      {"syntax error", "[recipe]\nname = \"x\n", 2, 10, ""},
      {"missing parent", "[recipe]\nname = \"x\"\nfrom = \"../nope.toml\"\n", 3, 8,
       "parent recipe \"../nope.toml\" not found"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const util::Error e = recipe_error(d, c.text);
    const std::string msg = e.what();
    INFO(msg);
    CHECK(e.kind() == c.kind);
    CHECK(msg.rfind(at(d, c.line, c.col), 0) == 0);
    CHECK(msg.find(c.needle) != std::string::npos);
  }
}

TEST_CASE("a copy source symlinked out of the recipe directory is refused", "[builder][recipe]") {
  util::TempDir tmp("recipe");
  put_file(tmp.path() / "outside/secret", "s\n");
  const fs::path d = tmp.path() / "project";
  fs::create_directories(d);
  fs::create_symlink(tmp.path() / "outside", d / "link");
  const util::Error e =
      recipe_error(d,
                   "[recipe]\nname = \"x\"\n[[layer]]\n[[layer.step]]\ntype = \"copy\"\n"
                   "src = \"link/secret\"\ndest = \"/s\"\n");
  CHECK(e.kind() == util::ErrorKind::InvalidInput);
  const std::string msg = e.what();
  CHECK(msg.rfind(at(d, 6, 7), 0) == 0);
  CHECK(msg.find("outside the recipe directory") != std::string::npos);
}

TEST_CASE("a `from` cycle is an error, not a hang", "[builder][recipe]") {
  util::TempDir tmp("recipe");
  put_file(tmp.path() / "a.toml", "[recipe]\nname = \"a\"\nfrom = \"b.toml\"\n");
  put_file(tmp.path() / "b.toml", "[recipe]\nname = \"b\"\nfrom = \"a.toml\"\n");
  const util::Error e = catch_error([&] { (void)builder::load_recipe(tmp.path() / "a.toml"); });
  CHECK(e.kind() == util::ErrorKind::InvalidInput);
  CHECK(std::string(e.what()).find("cycle") != std::string::npos);
}

TEST_CASE("errors in a parent recipe name the parent's file", "[builder][recipe]") {
  util::TempDir tmp("recipe");
  put_file(tmp.path() / "base/strata.toml", "[recipe]\nname = \"base\"\nbogus = 1\n");
  put_file(tmp.path() / "app/strata.toml", "[recipe]\nname = \"app\"\nfrom = \"../base\"\n");
  const util::Error e = catch_error([&] { (void)builder::load_recipe(tmp.path() / "app"); });
  CHECK(std::string(e.what()).rfind((tmp.path() / "base/strata.toml").string() + ":3:1:", 0) == 0);
}

TEST_CASE("recipe identity ignores formatting but follows content", "[builder][recipe]") {
  util::TempDir tmp("recipe");
  make_context(tmp.path());
  auto identity = [&](const std::string& text) {
    put_file(tmp.path() / "strata.toml", text);
    return builder::recipe_identity(builder::load_recipe(tmp.path() / "strata.toml")).str();
  };
  const std::string base = identity(
      "[recipe]\nname = \"x\"\n[[layer]]\n[[layer.step]]\ntype = \"copy\"\nsrc = \"files\"\n"
      "dest = \"/opt/\"\nmode = 0o644\n[config]\nenv = { A = \"1\", B = \"2\" }\n");
  // Comments, spacing, key order, equivalent spellings of the same values.
  CHECK(identity("# comment\n[recipe]\n  name=\"x\"   # trailing\n\n[[layer]]\n[[layer.step]]\n"
                 "dest = \"/opt//\"\nmode = \"0644\"\nsrc = \"./files/\"\ntype = \"copy\"\n"
                 "[config]\nenv = { B = \"2\", A = \"1\" }\n") == base);
  // Content changes.
  CHECK(identity("[recipe]\nname = \"x\"\n[[layer]]\n[[layer.step]]\ntype = \"copy\"\n"
                 "src = \"files\"\ndest = \"/opt/\"\nmode = 0o755\n[config]\n"
                 "env = { A = \"1\", B = \"2\" }\n") != base);
  CHECK(identity("[recipe]\nname = \"x\"\n[[layer]]\n[[layer.step]]\ntype = \"copy\"\n"
                 "src = \"files\"\ndest = \"/opt\"\nmode = 0o644\n[config]\n"
                 "env = { A = \"1\", B = \"2\" }\n") != base);
  CHECK(identity("[recipe]\nname = \"x\"\n[[layer]]\n[[layer.step]]\ntype = \"copy\"\n"
                 "src = \"files\"\ndest = \"/opt/\"\nmode = 0o644\n[config]\n"
                 "env = { A = \"1\", B = \"3\" }\n") != base);
}

TEST_CASE("a parent's content is part of the child's identity", "[builder][recipe]") {
  util::TempDir tmp("recipe");
  put_file(tmp.path() / "child.toml", "[recipe]\nname = \"child\"\nfrom = \"base.toml\"\n");
  put_file(tmp.path() / "base.toml", "[recipe]\nname = \"base\"\n[config]\nuser = \"1\"\n");
  const auto first = builder::recipe_identity(builder::load_recipe(tmp.path() / "child.toml"));
  put_file(tmp.path() / "base.toml", "[recipe]\nname = \"base\"\n[config]\nuser = \"2\"\n");
  const auto second = builder::recipe_identity(builder::load_recipe(tmp.path() / "child.toml"));
  CHECK(first != second);
}

TEST_CASE("SOURCE_DATE_EPOCH and compression precedence", "[builder][recipe]") {
  util::TempDir tmp("recipe");
  put_file(tmp.path() / "base.toml",
           "[recipe]\nname = \"base\"\nsource_date_epoch = 100\ncompression = \"gzip\"\n");
  put_file(tmp.path() / "child.toml", "[recipe]\nname = \"child\"\nfrom = \"base.toml\"\n");
  put_file(tmp.path() / "own.toml",
           "[recipe]\nname = \"own\"\nfrom = \"base.toml\"\nsource_date_epoch = 300\n");
  put_file(tmp.path() / "plain.toml", "[recipe]\nname = \"plain\"\n");
  const auto child = builder::load_recipe(tmp.path() / "child.toml");
  const auto own = builder::load_recipe(tmp.path() / "own.toml");
  const auto plain = builder::load_recipe(tmp.path() / "plain.toml");
  CHECK(child.effective_source_date_epoch(std::nullopt) == 100);  // the parent's
  CHECK(child.effective_source_date_epoch(200) == 200);           // env beats the parent's
  CHECK(own.effective_source_date_epoch(200) == 300);             // own beats env
  CHECK(plain.effective_source_date_epoch(std::nullopt) == 0);
  CHECK(child.effective_compression() == oci::Compression::Gzip);
  CHECK(plain.effective_compression() == oci::Compression::Zstd);
  CHECK(builder::parse_source_date_epoch("42", "x") == 42);
  CHECK(catch_error([] { builder::parse_source_date_epoch("-1", "x"); }).kind() ==
        util::ErrorKind::InvalidInput);
}

TEST_CASE("config merges down the from chain with the child winning", "[builder][recipe]") {
  builder::ConfigSpec base;
  base.env = {{"A", "1"}, {"B", "1"}};
  base.cmd = std::vector<std::string>{"base"};
  base.user = "1";
  base.labels = {{"l", "base"}};
  base.ports = {"80/tcp"};
  builder::ConfigSpec child;
  child.env = {{"B", "2"}, {"C", "2"}};
  child.user = "2";
  child.ports = {"53/udp"};
  const auto merged = child.merged_over(base);
  CHECK(merged.env == std::map<std::string, std::string>{{"A", "1"}, {"B", "2"}, {"C", "2"}});
  CHECK(merged.cmd == std::vector<std::string>{"base"});
  CHECK(merged.user == "2");
  CHECK(merged.labels.at("l") == "base");
  CHECK(merged.ports == std::vector<std::string>{"53/udp", "80/tcp"});
}
