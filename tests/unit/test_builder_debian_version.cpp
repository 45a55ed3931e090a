// Version ordering checked against dpkg: every row of the table below was produced by
// `dpkg --compare-versions A lt|eq B` (dpkg 1.21, Debian 12) when the test was written, so
// the table is the specification, not strata's own output.
#include <catch2/catch.hpp>

#include <string>

#include "builder/debian/version.hpp"
#include "util/error.hpp"

using strata::builder::debian::compare_versions;
using strata::builder::debian::Version;

namespace {

struct Row {
  const char* a;
  char rel;  // '<', '=' or '>' as dpkg orders a against b
  const char* b;
};

// clang-format off
const Row k_table[] = {
    {"1.0", '=', "1.0"},
    {"1.0", '<', "1.1"},
    {"1.1", '>', "1.0"},
    {"1.0", '<', "1.0.0"},
    {"1.0", '=', "1.00"},
    {"1.01", '=', "1.1"},
    {"1.001", '=', "1.1"},
    {"1.10", '>', "1.9"},
    {"1.9", '<', "1.10"},
    {"1.0~rc1", '<', "1.0"},
    {"1.0~rc1", '<', "1.0~rc2"},
    {"1.0~~", '<', "1.0~"},
    {"1.0~~a", '>', "1.0~~"},
    {"1.0~", '<', "1.0"},
    {"1.0~", '<', "1.0-1"},
    {"1.0", '<', "1.0+1"},
    {"1.0+1", '<', "1.0.1"},
    {"1.0.1", '>', "1.0+1"},
    {"1.0a", '>', "1.0"},
    {"1.0a", '<', "1.0.0"},
    {"1.0a", '<', "1.0+"},
    {"1.0a", '>', "1.0~"},
    {"1.0a", '<', "1.0b"},
    {"1.0A", '<', "1.0a"},
    {"1.0Z", '<', "1.0a"},
    {"1.0-1", '<', "1.0-2"},
    {"1.0-1", '<', "1.0-1.1"},
    {"1.0-1.1", '>', "1.0-1+b1"},
    {"1.0-1+b1", '<', "1.0-1.1"},
    {"1.0-1", '>', "1.0-1~bpo1"},
    {"1.0-1~bpo1", '>', "1.0-0"},
    {"1.0", '=', "1.0-0"},
    {"1.0", '<', "1.0-1"},
    {"1.0-0", '=', "1.0-00"},
    {"1.0-0.0", '>', "1.0-0"},
    {"0:1.0", '=', "1.0"},
    {"1:1.0", '>', "1.0"},
    {"1:1.0", '>', "2.0"},
    {"1:0.1", '>', "9.9"},
    {"2:1.0", '>', "1:9.9"},
    {"10:1.0", '>', "9:1.0"},
    {"01:1.0", '=', "1:1.0"},
    {"0:1.0-1", '=', "1.0-1"},
    {"1.0-1", '<', "1:1.0-1"},
    {"1.2.3", '=', "1.2.3-0"},
    {"1.2.3-1", '=', "1.2.3-1"},
    {"1.2.3-1", '<', "1.2.3-10"},
    {"1.2.3-2", '<', "1.2.3-10"},
    {"1.2.3-a", '<', "1.2.3-b"},
    {"1.2.3-1a", '>', "1.2.3-1"},
    {"1.2.3-1~", '<', "1.2.3-1"},
    {"1.2.3-1~1", '<', "1.2.3-1~2"},
    {"2.30", '>', "2.3"},
    {"2.3.0", '>', "2.3"},
    {"2.3a", '<', "2.3.a"},
    {"2.3+a", '<', "2.3.a"},
    {"2.3~a", '<', "2.3.a"},
    {"0", '=', "0"},
    {"0", '=', "00"},
    {"0", '<', "1"},
    {"00", '=', "0"},
    {"1", '<', "1.0"},
    {"1.0", '>', "1"},
    {"1.0", '>', "1a"},
    {"1a", '<', "1b"},
    {"1b", '>', "1aa"},
    {"1~", '<', "1"},
    {"1~", '>', "1~~"},
    {"1~~", '>', "1~~~"},
    {"1~a", '>', "1~"},
    {"1~a", '<', "1~b"},
    {"1~1", '<', "1~a"},
    {"1.2~beta1", '>', "1.2~alpha2"},
    {"1.2~beta1", '<', "1.2~rc1"},
    {"1.2~rc1", '<', "1.2~rc1.1"},
    {"1.2~rc1", '<', "1.2"},
    {"1.2", '<', "1.2+dfsg"},
    {"1.2+dfsg", '<', "1.2+dfsg-1"},
    {"1.2+dfsg-1", '<', "1.2+dfsg1-1"},
    {"1.2+dfsg1-1", '<', "1.2.1+dfsg-1"},
    {"2.36-9+deb12u4", '<', "2.36-9+deb12u10"},
    {"2.36-9+deb12u4", '>', "2.36-9"},
    {"2.36-9+deb12u4", '>', "2.36-9+deb12u4~"},
    {"2.36-9", '<', "2.36-10"},
    {"2.36-9", '<', "2.37-1"},
    {"3.0.11-1~deb12u2", '<', "3.0.11-1"},
    {"3.0.11-1~deb12u2", '>', "3.0.11-1~deb11u2"},
    {"3.0.11-1~deb12u2", '<', "3.0.13-1~deb12u1"},
    {"1:2.38.1-5+deb12u3", '>', "1:2.38.1-5+deb12u2"},
    {"1:2.38.1-5+deb12u3", '>', "2.39-1"},
    {"9.2p1-2", '<', "9.2p1-2+deb12u3"},
    {"9.2p1-2", '<', "9.3p1-1"},
    {"9.2p1", '>', "9.2"},
    {"9.2p1", '<', "9.2.1"},
    {"5.2.15-2+b7", '>', "5.2.15-2+b2"},
    {"5.2.15-2+b7", '<', "5.2.15-2.1"},
    {"1.0.0~git20230101.abc-1", '<', "1.0.0-1"},
    {"1.0.0~git20230101.abc-1", '>', "1.0.0~git20221231.fff-1"},
    {"1.0.0+git20230101-1", '>', "1.0.0-1"},
    {"1.0.0+git20230101-1", '<', "1.0.1-1"},
    {"7.88.1-10+deb12u5", '<', "7.88.1-10+deb12u12"},
    {"7.88.1-10+deb12u5", '<', "8.0.0-1"},
    {"252.22-1~deb12u1", '>', "252.17-1~deb12u1"},
    {"252.22-1~deb12u1", '<', "252.22-1"},
    {"1:9.18.28-1~deb12u2", '>', "1:9.16.0-1"},
    {"0.0.0", '>', "0"},
    {"0.0.0", '<', "0.0.0.1"},
    {"0.0.0a", '>', "0.0.0"},
    {"1.2.3.4.5.6.7.8.9", '<', "1.2.3.4.5.6.7.8.10"},
    {"12345678901234567890", '<', "12345678901234567891"},
    {"12345678901234567890", '>', "9999999999999999999"},
    {"00000000000000000001", '=', "1"},
    {"1.0000000000000000000001", '=', "1.1"},
    {"1.2-3-4", '>', "1.2-3"},
    {"1.2-3-4", '<', "1.2-3-5"},
    {"1.2-3-4", '<', "1.2.3-4"},
    {"1:1.2:3", '>', "1:1.2.3"},
    {"1:1.2:3", '>', "1:1.2+3"},
    {"1:1.2:3", '>', "1:1.2~3"},
    {"1.0+~", '<', "1.0+"},
    {"1.0+~", '>', "1.0"},
    {"1.0.~", '<', "1.0."},
    {"1.0.~", '>', "1.0"},
    {"1.0..", '>', "1.0."},
    {"1.0+", '<', "1.0."},
    {"1.0-a", '>', "1.0-A"},
    {"1.0-a", '<', "1.0-+"},
    {"1.0-a", '<', "1.0-."},
    {"1.0-.", '>', "1.0-+"},
    {"1.0-0~", '<', "1.0"},
    {"1.0-0~", '<', "1.0-0"},
    {"1.0-1", '=', "1.0-01"},
    {"1.0-10", '>', "1.0-9"},
    {"1.0-1.2", '<', "1.0-1.10"},
    {"1.0-1+b10", '>', "1.0-1+b9"},
    {"4.19.0-0.bpo.1", '<', "4.19.0-1"},
    {"4.19.0-0.bpo.1", '>', "4.19.0~rc1-1"},
    {"6.1.0-21", '>', "6.1.0-9"},
    {"6.1.90-1", '>', "6.1.0-21"},
    {"2:8.2.3995-1+deb12u2", '<', "2:9.0.1378-2"},
    {"2:8.2.3995-1+deb12u2", '>', "8.2.3995-1"},
    {"1.8.2-3", '<', "1.8.2-3+really1.8.1"},
    {"1.8.2+really1.8.1-1", '>', "1.8.2-1"},
    {"1.8.2+really1.8.1-1", '<', "1.8.3-1"},
    {"20230311", '>', "20230210"},
    {"20230311", '>', "2023.03.11"},
    {"2023.03.11", '=', "2023.3.11"},
    {"3.11.2-1+b1", '<', "3.11.2-6"},
    {"3.11.2-6", '<', "3.11.4-1"},
    {"2.2.40-1.1", '<', "2.2.40-1.1+deb12u1"},
    {"1.4.1-0.1", '>', "1.4.1-0.1~exp1"},
    {"1~rc", '>', "1~RC"},
    {"1~a", '>', "1~~a"},
    {"1~z", '>', "1~aa"},
    {"1.0b2", '<', "1.0b10"},
    {"1.0b2", '<', "1.0rc1"},
    {"1.0rc1", '>', "1.0"},
    {"0.9.8zh", '>', "0.9.8za"},
    {"0.9.8zh", '<', "1.0.0"},
    {"1.1.1w", '<', "3.0.11"},
    {"1.1.1w", '>', "1.1.1v"},
    {"1r", '<', "1s"},
    {"1.0-1ubuntu1", '>', "1.0-1"},
    {"1.0-1ubuntu1", '<', "1.0-1.1"},
    {"1.0-1build1", '<', "1.0-1ubuntu1"},
};
// clang-format on

int sign(int v) { return v < 0 ? -1 : (v > 0 ? 1 : 0); }

int expected_sign(char rel) { return rel == '<' ? -1 : (rel == '=' ? 0 : 1); }

}  // namespace

TEST_CASE("compare_versions agrees with dpkg on the reference table", "[debian][version]") {
  REQUIRE(std::size(k_table) >= 150);
  for (const Row& row : k_table) {
    INFO(row.a << " " << row.rel << " " << row.b);
    CHECK(sign(compare_versions(row.a, row.b)) == expected_sign(row.rel));
    // The order is antisymmetric: swapping the operands flips the result.
    CHECK(sign(compare_versions(row.b, row.a)) == -expected_sign(row.rel));
  }
}

TEST_CASE("every version compares equal to itself and to its round trip", "[debian][version]") {
  for (const Row& row : k_table) {
    for (const char* text : {row.a, row.b}) {
      INFO(text);
      const Version v = Version::parse(text);
      CHECK(compare_versions(v, v) == 0);
      CHECK(compare_versions(Version::parse(v.str()), v) == 0);
    }
  }
}

TEST_CASE("Version::parse splits epoch, upstream and revision", "[debian][version]") {
  const Version v = Version::parse("2:1.2-3-4ubuntu1");
  CHECK(v.epoch == 2);
  CHECK(v.upstream == "1.2-3");
  CHECK(v.revision == "4ubuntu1");
  CHECK(v.str() == "2:1.2-3-4ubuntu1");

  const Version plain = Version::parse("  1.0~rc1 ");
  CHECK(plain.epoch == 0);
  CHECK(plain.upstream == "1.0~rc1");
  CHECK(plain.revision.empty());
  CHECK(plain.str() == "1.0~rc1");

  // An explicit epoch 0 is dropped by str(), as dpkg prints it.
  CHECK(Version::parse("0:1.0-1").str() == "1.0-1");
  // A colon is allowed in the upstream part once an epoch is present.
  CHECK(Version::parse("1:1.2:3").upstream == "1.2:3");
  // ... and then epoch 0 must be printed, or the text would read back differently.
  CHECK(Version::parse("0:230:23+b1").str() == "0:230:23+b1");
}

TEST_CASE("invalid versions are rejected with the text in the message", "[debian][version]") {
  // dpkg rejects all of these outright, or warns and Debian policy forbids them.
  const char* const bad[] = {
      "",          " ",        "1.0 1",   ":1.0",    "a:1.0",          "1.0-",
      "1:",        "1:-1",     "1.0-1-",  "1.0-a-",  "99999999999:1.0", "-1:1.0",
      "1.0-1:2",   "a1.0",     "abc",     "1.0_1",   "1.0@",           "1.0-1_2",
      "1.0-!",     "~1",       "1.2:3",   "1.0\t2",  "+1",
  };
  for (const char* text : bad) {
    INFO("'" << text << "'");
    try {
      (void)Version::parse(text);
      FAIL("accepted an invalid version");
    } catch (const strata::util::Error& e) {
      CHECK(e.kind() == strata::util::ErrorKind::InvalidInput);
      CHECK(std::string(e.what()).find("'" + std::string(text) + "'") != std::string::npos);
    }
  }
  CHECK_THROWS_AS(compare_versions("1.0", "1.0-"), strata::util::Error);
}
