// Test helpers for the builder tests: writing fixture files and checking located errors.
#pragma once

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "builder/recipe.hpp"
#include "util/error.hpp"

namespace strata::test {

/// Writes `content` to `path`, creating parent directories.
inline void put_file(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  REQUIRE(out.good());
}

/// Runs `fn` and returns the util::Error it throws (fails the test when none is thrown).
template <typename Fn>
util::Error catch_error(Fn&& fn) {
  try {
    fn();
  } catch (const util::Error& e) {
    return e;
  }
  FAIL("expected a strata::util::Error");
  return util::Error(util::ErrorKind::Internal, "unreachable");
}

/// Parses `text` as DIR/strata.toml and returns the error it raises.
inline util::Error recipe_error(const std::filesystem::path& dir, const std::string& text) {
  put_file(dir / "strata.toml", text);
  return catch_error([&] { (void)builder::load_recipe(dir / "strata.toml"); });
}

}  // namespace strata::test
