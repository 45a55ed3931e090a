// libFuzzer target for the parsers of Debian control data, which arrives from mirrors:
// deb822 stanzas (with and without comments), relation fields, Provides, Release files
// and versions. Expected failures are util::Error; anything else (a crash, another
// exception, a sanitizer report) is a bug.
//
//   clang++ -std=c++20 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_debian_control.cpp
//     builder/debian/{control,relations,version,release,packages_index}.cpp util/*.cpp
//     -lcrypto -larchive
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "builder/debian/control.hpp"
#include "builder/debian/packages_index.hpp"
#include "builder/debian/relations.hpp"
#include "builder/debian/release.hpp"
#include "builder/debian/version.hpp"
#include "util/error.hpp"

using namespace strata::builder::debian;

namespace {

template <typename F>
void expect_only_errors(F&& f) {
  try {
    f();
  } catch (const strata::util::Error&) {
    // Rejecting hostile input with a proper error is the expected outcome.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The first byte selects the context, so one corpus exercises every switch.
  const unsigned selector = size > 0 ? data[0] : 0;

  expect_only_errors([&] {
    ControlOptions options;
    options.allow_comments = (selector & 1) != 0;
    for (const Stanza& stanza : parse_control(text, "fuzz", options)) {
      for (const ControlField& field : stanza.fields()) {
        (void)value_lines(field.value);
        (void)stanza.find(field.name);
      }
      expect_only_errors([&] {
        PackageOptions po;
        po.require_download_fields = (selector & 2) != 0;
        (void)package_from_stanza(stanza, po);
      });
    }
  });

  RelationContext ctx;
  ctx.target_arch = (selector & 4) != 0 ? "amd64" : "";
  if ((selector & 8) != 0) {
    ctx.profiles = {"nocheck", "stage1"};
  }
  expect_only_errors([&] {
    const RelationList list = parse_relations(text, ctx);
    // What was accepted must print and re-parse to the same thing.
    const std::string printed = to_string(list);
    if (to_string(parse_relations(printed)) != printed) {
      __builtin_trap();
    }
  });
  expect_only_errors([&] { (void)parse_provides(text, ctx); });
  expect_only_errors([&] { (void)parse_release(text, "fuzz"); });
  expect_only_errors([&] { (void)parse_rfc2822_date(text); });
  expect_only_errors([&] {
    const Version v = Version::parse(text);
    if (compare_versions(Version::parse(v.str()), v) != 0) {
      __builtin_trap();
    }
  });
  return 0;
}
