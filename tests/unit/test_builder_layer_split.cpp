// Layer planning: how a big debian layer is dealt into parts.
#include <catch2/catch.hpp>

#include <set>

#include "builder/layer_split.hpp"

using namespace strata;
using builder::LockedLayer;
using builder::LockedPackage;

namespace {

LockedLayer layer_of(const std::vector<std::pair<std::string, std::uint64_t>>& sizes) {
  LockedLayer l;
  for (const auto& [name, size] : sizes) {
    LockedPackage p;
    p.name = name;
    p.version = "1";
    p.architecture = "amd64";
    p.size = size;
    l.packages.push_back(p);
  }
  return l;
}

}  // namespace

TEST_CASE("a layer within the budget stays whole", "[builder][split]") {
  const auto l = layer_of({{"a", 100}, {"b", 200}});
  const auto parts = builder::split_packages(l, 1000, 100);
  REQUIRE(parts.size() == 1);
  CHECK(parts[0].packages == std::vector<std::size_t>{0, 1});
  CHECK(parts[0].bytes == 300);
}

TEST_CASE("a big layer is dealt largest first into balanced parts", "[builder][split]") {
  const auto l = layer_of({{"a", 500}, {"b", 400}, {"c", 300}, {"d", 200}, {"e", 100}, {"f", 100}});
  const auto parts = builder::split_packages(l, 600, 100);  // 1600 bytes -> 3 parts
  REQUIRE(parts.size() == 3);
  std::set<std::size_t> all;
  std::uint64_t total = 0;
  for (const auto& p : parts) {
    all.insert(p.packages.begin(), p.packages.end());
    total += p.bytes;
    CHECK(p.bytes <= 600);
  }
  CHECK(all.size() == 6);
  CHECK(total == 1600);
  // Greedy: a(500) -> 0, b(400) -> 1, c(300) -> 2, d(200) -> 2, e(100) -> 1, f(100) -> 0.
  CHECK(parts[0].packages == std::vector<std::size_t>{0, 5});
  CHECK(parts[1].packages == std::vector<std::size_t>{1, 4});
  CHECK(parts[2].packages == std::vector<std::size_t>{2, 3});
  // Deterministic: the same lock always gives the same parts.
  const auto again = builder::split_packages(l, 600, 100);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    CHECK(again[i].packages == parts[i].packages);
  }
}

TEST_CASE("splitting respects the layer cap and the package count", "[builder][split]") {
  const auto l = layer_of({{"a", 1000}, {"b", 1000}, {"c", 1000}});
  CHECK(builder::split_packages(l, 10, 100).size() == 3);  // never more parts than packages
  CHECK(builder::split_packages(l, 10, 2).size() == 2);    // the image's 100-layer cap
  CHECK(builder::split_packages(l, 10, 1).size() == 1);
}
