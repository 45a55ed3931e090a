// libFuzzer target for the safe unpacker: arbitrary bytes as a layer (tar, gzip or zstd,
// detected from the content) applied to a scratch root. Expected failures are util::Error;
// a crash, another exception, a sanitizer report or a file outside the root is a bug.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "oci/unpacker.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static strata::util::TempDir scratch("strata-fuzz-unpack");
  const auto root = scratch.path() / "root";
  strata::util::remove_tree(root);
  std::filesystem::create_directories(root);
  strata::util::StringSource source(
      std::string_view(reinterpret_cast<const char*>(data), size));
  try {
    (void)strata::oci::unpack_layer(root, source, "", strata::oci::Digest::of("fuzz"));
  } catch (const strata::util::Error&) {
  }
  // Nothing may appear beside the root.
  for (const auto& entry : std::filesystem::directory_iterator(scratch.path())) {
    if (entry.path() != root) {
      __builtin_trap();
    }
  }
  return 0;
}
