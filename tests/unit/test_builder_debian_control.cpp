// deb822 parsing as Packages indexes, dpkg status files and apt .sources files need it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <string>

#include "builder/debian/control.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace strata::builder::debian;
using strata::util::Error;
using strata::util::ErrorKind;

namespace {

// Expects an InvalidInput error whose message contains every fragment.
template <typename F>
void expect_invalid(F&& f, std::initializer_list<std::string> fragments) {
  try {
    f();
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::InvalidInput);
    for (const std::string& s : fragments) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(s) != std::string::npos);
    }
  }
}

// A source that hands out at most `step` bytes per read, to cross chunk boundaries.
class TrickleSource final : public strata::util::Source {
 public:
  TrickleSource(std::string data, std::size_t step) : m_data(std::move(data)), m_step(step) {}
  std::size_t read(void* out, std::size_t size) override {
    const std::size_t n = std::min({size, m_step, m_data.size() - m_pos});
    std::memcpy(out, m_data.data() + m_pos, n);
    m_pos += n;
    return n;
  }

 private:
  std::string m_data;
  std::size_t m_step;
  std::size_t m_pos = 0;
};

}  // namespace

TEST_CASE("stanzas, case-insensitive fields and multi-line values", "[debian][control]") {
  const std::string text =
      "Package: hello\n"
      "Version: 2.10-3\n"
      "Depends: libc6 (>= 2.34),\n"
      " libfoo\n"
      "Description: example package\n"
      " The long description.\n"
      " .\n"
      "   indented verbatim line   \n"
      "\n"
      "   \t\n"  // whitespace-only lines separate stanzas too
      "\n"
      "package: second\r\n"
      "Version:1.0\r\n";
  const auto stanzas = parse_control(text, "Packages");
  REQUIRE(stanzas.size() == 2);
  const Stanza& a = stanzas[0];
  CHECK(a.get("package") == "hello");
  CHECK(a.get("PACKAGE") == "hello");
  CHECK(a.line() == 1);
  CHECK(a.field("Depends")->line == 3);
  CHECK(a.get("Depends") == "libc6 (>= 2.34),\nlibfoo");
  CHECK(a.get("Description") ==
        "example package\nThe long description.\n.\n  indented verbatim line");
  CHECK(value_lines(a.get("Description")) ==
        std::vector<std::string>{"example package", "The long description.", ".",
                                 "indented verbatim line"});
  CHECK(a.find("Missing") == nullptr);
  CHECK(a.get("Missing", "dflt") == "dflt");
  CHECK(a.where("Description") == "Packages:5");

  const Stanza& b = stanzas[1];
  CHECK(b.line() == 12);
  CHECK(b.get("Package") == "second");
  CHECK(b.get("Version") == "1.0");  // no space after the colon, CRLF stripped
  CHECK(b.fields().front().name == "package");
}

TEST_CASE("require() names the file and line of the stanza", "[debian][control]") {
  const auto stanzas = parse_control("\n\nPackage: x\n", "dists/Packages");
  REQUIRE(stanzas.size() == 1);
  expect_invalid([&] { (void)stanzas[0].require("Version"); },
                 {"dists/Packages:3", "Version"});
}

TEST_CASE("malformed control data is rejected with file:line", "[debian][control]") {
  expect_invalid([] { parse_control("Package: a\nno colon here\n", "Packages"); },
                 {"Packages:2", "no colon here"});
  expect_invalid([] { parse_control(" starts with a continuation\n", "status"); },
                 {"status:1", "continuation"});
  expect_invalid([] { parse_control("A: 1\nB: 2\na: 3\n", "control"); },
                 {"control:3", "duplicate field 'a'", "line 1"});
  expect_invalid([] { parse_control("Package: a\n: empty name\n", "x"); }, {"x:2"});
  expect_invalid([] { parse_control("Pack age: a\n", "x"); }, {"x:1", "invalid field name"});
  expect_invalid([] { parse_control("Package: a\n# comment\n", "Packages"); },
                 {"Packages:2", "comments are not allowed"});
  expect_invalid(
      [] { parse_control("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n", "InRelease"); },
      {"InRelease:1", "gpgv"});
}

TEST_CASE("comments are skipped where allowed, even inside a stanza", "[debian][control]") {
  ControlOptions opts;
  opts.allow_comments = true;
  const auto stanzas = parse_control(
      "# leading comment\n"
      "Types: deb\n"
      "# http://mirror.invalid/old\n"
      "URIs: http://mirror.invalid/debian\n"
      "Signed-By:\n"
      " -----BEGIN PGP PUBLIC KEY BLOCK-----\n"
      "# inside a value\n"
      " .\n"
      " -----END PGP PUBLIC KEY BLOCK-----\n"
      "\n"
      "# a stanza made only of comments is not a stanza\n"
      "\n",
      "debian.sources", opts);
  REQUIRE(stanzas.size() == 1);
  CHECK(stanzas[0].get("URIs") == "http://mirror.invalid/debian");
  CHECK(stanzas[0].fields().size() == 3);
  CHECK(stanzas[0].get("Signed-By") ==
        "\n-----BEGIN PGP PUBLIC KEY BLOCK-----\n.\n-----END PGP PUBLIC KEY BLOCK-----");
}

TEST_CASE("empty input has no stanzas; last line may lack a newline", "[debian][control]") {
  CHECK(parse_control("", "x").empty());
  CHECK(parse_control("\n\n  \n", "x").empty());
  const auto s = parse_control("A: 1\n B", "x");
  REQUIRE(s.size() == 1);
  CHECK(s[0].get("A") == "1\nB");
}

TEST_CASE("the streaming reader handles stanzas across chunk boundaries", "[debian][control]") {
  std::string fixed;
  for (int i = 0; i < 3000; ++i) {
    fixed += "Package: pkg" + std::to_string(i) + "\nDescription: d\n " + std::string(100, 'x') +
             "\n continuation " + std::to_string(i) + "\n\n";
  }
  TrickleSource source(fixed, 7777);
  ControlReader reader(source, "big");
  int count = 0;
  while (auto s = reader.next()) {
    REQUIRE(s->get("Package") == "pkg" + std::to_string(count));
    REQUIRE(s->get("Description") ==
            "d\n" + std::string(100, 'x') + "\ncontinuation " + std::to_string(count));
    REQUIRE(s->line() == static_cast<std::size_t>(count) * 5 + 1);
    ++count;
  }
  CHECK(count == 3000);
  CHECK_FALSE(reader.next().has_value());
}

TEST_CASE("value_words splits on all whitespace", "[debian][control]") {
  CHECK(value_words(" amd64\tarm64\n i386 ") ==
        std::vector<std::string>{"amd64", "arm64", "i386"});
  CHECK(value_words("").empty());
  CHECK(field_name_equal("Valid-Until", "valid-until"));
  CHECK_FALSE(field_name_equal("Valid-Until", "Valid-Untill"));
}

TEST_CASE("a stanza with absurdly many fields is rejected", "[debian][control]") {
  std::string text;
  for (int i = 0; i < 1001; ++i) {
    text += "F" + std::to_string(i) + ": v\n";
  }
  expect_invalid([&] { parse_control(text, "huge"); }, {"huge:1001", "more than 1000 fields"});
  text.resize(text.rfind("F1000"));
  CHECK(parse_control(text, "ok")[0].fields().size() == 1000);
}
