// Grouping a layer's packages so that each preinst runs after its Pre-Depends are configured.
#include <catch2/catch.hpp>

#include "builder/install_order.hpp"

namespace b = strata::builder;
using Groups = std::vector<std::vector<std::size_t>>;

namespace {
b::OrderPackage pkg(std::string name, bool preinst, std::vector<std::vector<std::string>> pre = {},
                    std::vector<std::vector<std::string>> deps = {},
                    std::vector<std::string> provides = {}) {
  return {std::move(name), preinst, std::move(pre), std::move(deps), std::move(provides)};
}
}  // namespace

TEST_CASE("one group when no preinst pre-depends on the same layer") {
  CHECK(b::install_groups({}).empty());
  // Pre-Depends on a package below the layer, or a package without a preinst: one group.
  CHECK(b::install_groups({pkg("a", true, {{"libc6"}}), pkg("b", false, {{"a"}}),
                           pkg("c", false, {}, {{"a"}})}) == Groups{{0, 1, 2}});
}

TEST_CASE("the Pre-Depends target and its dependencies come first, configured on their own") {
  // tool's preinst runs `helper`, which needs libhelper; unrelated stays with tool.
  const std::vector<b::OrderPackage> layer = {
      pkg("tool", true, {{"helper"}}, {{"unrelated"}}), pkg("unrelated", false),
      pkg("helper", false, {}, {{"libhelper"}}), pkg("libhelper", true)};
  CHECK(b::install_groups(layer) == Groups{{2, 3}, {0, 1}});
}

TEST_CASE("alternatives and virtual packages find their provider; chains nest") {
  const std::vector<b::OrderPackage> layer = {
      pkg("app", true, {{"awk-missing", "awk"}}), pkg("mawk", true, {{"libbase"}}, {}, {"awk"}),
      pkg("libbase", false), pkg("docs", false)};
  // app needs awk = mawk (+ mawk's pre-depends libbase, itself a group before mawk).
  CHECK(b::install_groups(layer) == Groups{{2}, {1}, {0, 3}});
}

TEST_CASE("a cycle leaves a single group") {
  const std::vector<b::OrderPackage> layer = {pkg("a", true, {{"b"}}), pkg("b", true, {{"a"}})};
  CHECK(b::install_groups(layer) == Groups{{0, 1}});
}
