// Size and duration parsing for command-line options, and size formatting.
#include <catch2/catch.hpp>

#include "util/error.hpp"
#include "util/units.hpp"

using namespace strata;

TEST_CASE("sizes parse with binary and decimal units", "[util][units]") {
  CHECK(util::parse_size("0", "--max-size") == 0);
  CHECK(util::parse_size("4096", "--max-size") == 4096);
  CHECK(util::parse_size("12B", "--max-size") == 12);
  CHECK(util::parse_size("1K", "--max-size") == 1024);
  CHECK(util::parse_size("10G", "--max-size") == 10ULL << 30);
  CHECK(util::parse_size("10g", "--max-size") == 10ULL << 30);
  CHECK(util::parse_size("1.5GiB", "--max-size") == 3ULL << 29);
  CHECK(util::parse_size("2T", "--max-size") == 2ULL << 40);
  CHECK(util::parse_size("500MB", "--max-size") == 500'000'000ULL);
  CHECK(util::parse_size("1kb", "--max-size") == 1000);
}

TEST_CASE("bad sizes name the option and the accepted units", "[util][units]") {
  for (const char* text : {"", "G", "10X", "-1G", "1.2.3G", "10 G", "ten"}) {
    try {
      util::parse_size(text, "--max-size");
      FAIL("accepted '" << text << "'");
    } catch (const util::Error& e) {
      CHECK(e.kind() == util::ErrorKind::InvalidInput);
      CHECK_THAT(e.what(), Catch::Contains("--max-size") && Catch::Contains("10G"));
    }
  }
  CHECK_THROWS_AS(util::parse_size("99999999P", "--max-size"), util::Error);
}

TEST_CASE("durations parse with units and combinations", "[util][units]") {
  CHECK(util::parse_duration("90", "--grace") == 90);
  CHECK(util::parse_duration("10m", "--grace") == 600);
  CHECK(util::parse_duration("30d", "--max-age") == 30 * 86400);
  CHECK(util::parse_duration("1h30m", "--max-age") == 5400);
  CHECK(util::parse_duration("2w", "--max-age") == 14 * 86400);
  CHECK(util::parse_duration("1.5h", "--max-age") == 5400);
  CHECK(util::parse_duration("0s", "--grace") == 0);
  for (const char* text : {"", "d", "10y", "1h30", "-5m", "1 h"}) {
    try {
      util::parse_duration(text, "--max-age");
      FAIL("accepted '" << text << "'");
    } catch (const util::Error& e) {
      CHECK(e.kind() == util::ErrorKind::InvalidInput);
      CHECK_THAT(e.what(), Catch::Contains("--max-age"));
    }
  }
}

TEST_CASE("sizes format with binary units", "[util][units]") {
  CHECK(util::format_size(0) == "0 B");
  CHECK(util::format_size(1023) == "1023 B");
  CHECK(util::format_size(1024) == "1.00 KiB");
  CHECK(util::format_size(1536 * 1024) == "1.50 MiB");
  CHECK(util::format_size(250ULL << 30) == "250 GiB");
}
