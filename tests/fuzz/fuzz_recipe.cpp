// libFuzzer target for the recipe parser (TOML from users and from catalogs). A rejected
// recipe must be a util::Error with a position; anything else is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "builder/recipe.hpp"
#include "util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto recipe = strata::builder::parse_recipe(text, "fuzz/strata.toml");
    (void)strata::builder::recipe_identity(recipe);
  } catch (const strata::util::Error&) {
  }
  return 0;
}
