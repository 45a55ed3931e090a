// Relation fields: what the resolver will see for real Depends/Provides/Build-Depends text.
#include <catch2/catch.hpp>

#include <string>

#include "builder/debian/relations.hpp"
#include "util/error.hpp"

using namespace strata::builder::debian;
using strata::util::Error;
using strata::util::ErrorKind;

namespace {

void expect_invalid(std::string_view text, std::initializer_list<std::string> fragments,
                    bool provides = false) {
  RelationContext ctx;
  ctx.where = "Packages:42: Depends";
  try {
    (void)(provides ? parse_provides(text, ctx) : parse_relations(text, ctx));
    FAIL("accepted '" << text << "'");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == ErrorKind::InvalidInput);
    CHECK(std::string(e.what()).find("Packages:42: Depends") != std::string::npos);
    for (const std::string& s : fragments) {
      CHECK(std::string(e.what()).find(s) != std::string::npos);
    }
  }
}

}  // namespace

TEST_CASE("groups, alternatives, versions and arch qualifiers", "[debian][relations]") {
  const RelationList r = parse_relations(
      "libc6 (>= 2.36), default-mta | mail-transport-agent,python3:any (<< 3.12~),\n"
      " libfoo1:amd64(=1:2.0-1) , perl:native");
  REQUIRE(r.size() == 5);
  REQUIRE(r[0].size() == 1);
  CHECK(r[0][0].name == "libc6");
  CHECK(r[0][0].op == RelOp::GreaterEq);
  CHECK(r[0][0].version == "2.36");
  REQUIRE(r[1].size() == 2);
  CHECK(r[1][0].name == "default-mta");
  CHECK(r[1][0].op == RelOp::None);
  CHECK(r[1][0].version.empty());
  CHECK(r[1][1].name == "mail-transport-agent");
  CHECK(r[2][0].arch_qualifier == "any");
  CHECK(r[2][0].op == RelOp::Less);
  CHECK(r[2][0].version == "3.12~");
  CHECK(r[3][0].name == "libfoo1");
  CHECK(r[3][0].arch_qualifier == "amd64");
  CHECK(r[3][0].op == RelOp::Eq);
  CHECK(r[3][0].version == "1:2.0-1");
  CHECK(r[4][0].arch_qualifier == "native");
  CHECK(to_string(r) ==
        "libc6 (>= 2.36), default-mta | mail-transport-agent, python3:any (<< 3.12~), "
        "libfoo1:amd64 (= 1:2.0-1), perl:native");
}

TEST_CASE("all five operators and the obsolete < and >", "[debian][relations]") {
  const RelationList r =
      parse_relations("a (<< 1), b (<= 1), c (= 1), d (>= 1), e (>> 1), f (< 1), g (> 1)");
  REQUIRE(r.size() == 7);
  CHECK(r[0][0].op == RelOp::Less);
  CHECK(r[1][0].op == RelOp::LessEq);
  CHECK(r[2][0].op == RelOp::Eq);
  CHECK(r[3][0].op == RelOp::GreaterEq);
  CHECK(r[4][0].op == RelOp::Greater);
  CHECK(r[5][0].op == RelOp::LessEq);     // legacy '<' means '<='
  CHECK(r[6][0].op == RelOp::GreaterEq);  // legacy '>' means '>='

  CHECK(version_satisfies("1.0", RelOp::Less, "1.0.1"));
  CHECK_FALSE(version_satisfies("1.0", RelOp::Less, "1.0"));
  CHECK(version_satisfies("1.0", RelOp::LessEq, "1.0-0"));
  CHECK(version_satisfies("1:0.1", RelOp::Greater, "9.9"));
  CHECK(version_satisfies("2.0~rc1", RelOp::Less, "2.0"));
  CHECK_FALSE(version_satisfies("2.0~rc1", RelOp::GreaterEq, "2.0"));
  CHECK(version_satisfies("2.0", RelOp::Eq, "0:2.0"));
  CHECK(version_satisfies("anything-goes-here", RelOp::None, ""));
}

TEST_CASE("arch restriction lists are evaluated for the target", "[debian][relations]") {
  const std::string field =
      "libc6-dev [amd64 arm64], libc6.1-dev [alpha ia64], gcc-multilib [!i386 !arm64],"
      " libseccomp-dev [linux-any], only-hurd [hurd-any], x86ish [any-i386 any-amd64],"
      " a [i386] | b [amd64]";
  RelationContext amd64;
  amd64.target_arch = "amd64";
  CHECK(to_string(parse_relations(field, amd64)) ==
        "libc6-dev, gcc-multilib, libseccomp-dev, x86ish, b");
  RelationContext i386;
  i386.target_arch = "i386";
  CHECK(to_string(parse_relations(field, i386)) == "libseccomp-dev, x86ish, a");
  RelationContext arm64;
  arm64.target_arch = "arm64";
  CHECK(to_string(parse_relations(field, arm64)) == "libc6-dev, libseccomp-dev");
  // Without a target the lists are only checked; every relation stays.
  CHECK(parse_relations(field).size() == 7);
  CHECK(parse_relations(field)[6].size() == 2);
}

TEST_CASE("build profiles are dropped unless their formula holds", "[debian][relations]") {
  const std::string field =
      "debhelper-compat (= 13), python3-pytest <!nocheck>, doxygen <!nodoc> <pkg.foo.doc>,"
      " stage1-only <stage1>, both <!nocheck !nodoc>, arch-and-profile [amd64] <!nocheck>";
  RelationContext none;
  none.target_arch = "amd64";
  CHECK(to_string(parse_relations(field, none)) ==
        "debhelper-compat (= 13), python3-pytest, doxygen, both, arch-and-profile");
  RelationContext nocheck = none;
  nocheck.profiles = {"nocheck", "nodoc"};
  CHECK(to_string(parse_relations(field, nocheck)) == "debhelper-compat (= 13)");
  RelationContext stage1 = none;
  stage1.profiles = {"stage1", "nodoc", "pkg.foo.doc"};
  CHECK(to_string(parse_relations(field, stage1)) ==
        "debhelper-compat (= 13), python3-pytest, doxygen, stage1-only, arch-and-profile");
}

TEST_CASE("Provides, with and without versions", "[debian][relations]") {
  const RelationList p = parse_provides("mail-transport-agent, libfoo-abi-2 (= 2.1-3), python3-bar:any");
  REQUIRE(p.size() == 3);
  for (const auto& g : p) {
    CHECK(g.size() == 1);
  }
  CHECK(p[0][0].op == RelOp::None);
  CHECK(p[1][0].op == RelOp::Eq);
  CHECK(p[1][0].version == "2.1-3");
  expect_invalid("a | b", {"alternatives"}, true);
  expect_invalid("a (>= 1)", {"only '='"}, true);
}

TEST_CASE("empty fields and trailing commas", "[debian][relations]") {
  CHECK(parse_relations("").empty());
  CHECK(parse_relations("  \n ").empty());
  CHECK(to_string(parse_relations("a, b,\n")) == "a, b");
  CHECK(to_string(parse_relations("Foo-Bar (>= 1)")) == "foo-bar (>= 1)");  // names fold case
}

TEST_CASE("malformed relations are errors naming the field and text", "[debian][relations]") {
  expect_invalid("a (>= 1.0", {"'a (>= 1.0'", "missing ')'"});
  expect_invalid("a (~= 1.0)", {"operator"});
  expect_invalid("a (>= )", {"missing version"});
  expect_invalid("a (>= 1.0 x)", {"missing ')'"});
  expect_invalid("a (>= a1)", {"does not start with a digit"});
  expect_invalid("a | , b", {"empty alternative"});
  expect_invalid("-foo", {"must start with a letter or digit"});
  expect_invalid("a [amd64 !i386]", {"mix"});
  expect_invalid("a [amd64", {"']'"});
  expect_invalid("a []", {"empty architecture list"});
  expect_invalid("a <!nocheck", {"'>'"});
  expect_invalid("a <>", {"empty build profile list"});
  expect_invalid("a b", {"unexpected 'b'"});
  expect_invalid("${misc:Depends}", {"missing package name"});
  expect_invalid("a:", {"architecture qualifier"});
}

TEST_CASE("arch wildcards", "[debian][relations]") {
  CHECK(arch_matches("amd64", "any"));
  CHECK(arch_matches("amd64", "linux-any"));
  CHECK(arch_matches("amd64", "any-amd64"));
  CHECK(arch_matches("armhf", "any-arm"));
  CHECK(arch_matches("hurd-i386", "any-i386"));
  CHECK(arch_matches("hurd-i386", "hurd-any"));
  CHECK_FALSE(arch_matches("hurd-i386", "linux-any"));
  CHECK_FALSE(arch_matches("amd64", "any-i386"));
  CHECK_FALSE(arch_matches("amd64", "arm64"));
  CHECK_FALSE(arch_matches("all", "any"));
  CHECK(arch_matches("all", "all"));
}
