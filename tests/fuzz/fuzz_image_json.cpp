// libFuzzer target for the OCI/Docker JSON documents strata reads from layouts, archives
// and registries: manifests, indexes, image configs, and image references.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "oci/image.hpp"
#include "oci/reference.hpp"
#include "util/error.hpp"

namespace {

template <typename F>
void expect_only_errors(F&& f) {
  try {
    f();
  } catch (const strata::util::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace strata::oci;
  expect_only_errors([&] { (void)to_json(parse_manifest(text, "fuzz")); });
  expect_only_errors([&] { (void)to_json(parse_index(text, "fuzz")); });
  expect_only_errors([&] { (void)to_json(parse_image_config(text, "fuzz")); });
  expect_only_errors([&] { (void)detect_media_type(text, "fuzz"); });
  if (size < 512) {
    expect_only_errors([&] { (void)Reference::parse(text).str(); });
    expect_only_errors([&] { (void)Digest::parse(text).str(); });
  }
  return 0;
}
