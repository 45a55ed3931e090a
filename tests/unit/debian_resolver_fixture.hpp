// Test helpers for the Debian resolver tests: hand-made packages and universes.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "builder/debian/package.hpp"
#include "builder/debian/resolver.hpp"
#include "builder/debian/resolver_match.hpp"
#include "builder/debian/universe.hpp"
#include "util/error.hpp"

namespace strata::test {

namespace deb = builder::debian;

/// Parses a relation field as written in a control file: "a (>= 1) | b:any, c".
inline deb::RelationList rels(std::string_view text) {
  deb::RelationList out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view group = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    std::vector<deb::Relation> alternatives;
    while (!group.empty()) {
      const auto bar = group.find('|');
      alternatives.push_back(deb::resolver_detail::parse_request(group.substr(0, bar)));
      group = bar == std::string_view::npos ? std::string_view() : group.substr(bar + 1);
    }
    out.push_back(std::move(alternatives));
  }
  return out;
}

/// Builder of one Package stanza.
struct Pkg {
  deb::Package p;
  Pkg(std::string name, std::string version, std::string arch = "amd64") {
    p.name = std::move(name);
    p.version = std::move(version);
    p.architecture = std::move(arch);
    p.source = p.name;
    p.priority = "optional";
    p.filename = "pool/main/" + p.name + "_" + p.version + "_" + p.architecture + ".deb";
    p.archive = "test/main";
  }
  Pkg& depends(std::string_view t) { p.depends = rels(t); return *this; }
  Pkg& pre_depends(std::string_view t) { p.pre_depends = rels(t); return *this; }
  Pkg& recommends(std::string_view t) { p.recommends = rels(t); return *this; }
  Pkg& conflicts(std::string_view t) { p.conflicts = rels(t); return *this; }
  Pkg& breaks(std::string_view t) { p.breaks = rels(t); return *this; }
  Pkg& provides(std::string_view t) { p.provides = rels(t); return *this; }
  Pkg& multi_arch(deb::MultiArch m) { p.multi_arch = m; return *this; }
  Pkg& essential() { p.essential = true; return *this; }
  Pkg& priority(std::string v) { p.priority = std::move(v); return *this; }
  Pkg& archive(std::string v) { p.archive = std::move(v); return *this; }
  operator deb::Package() const { return p; }  // NOLINT: implicit by design, for brace lists
};

/// A request for `packages` on amd64.
inline deb::Request request(std::vector<std::string> packages) {
  deb::Request r;
  r.architecture = "amd64";
  r.packages = std::move(packages);
  return r;
}

/// The resolution as "name=version" ("name:arch=version" when not amd64), in result order.
inline std::vector<std::string> chosen(const deb::Resolution& res) {
  std::vector<std::string> out;
  for (const auto& c : res.packages) {
    out.push_back(c.name + (c.architecture == "amd64" ? "" : ":" + c.architecture) + "=" +
                  c.version);
  }
  return out;
}

/// Resolves and returns chosen(); fails the test with the error message when it throws.
inline std::vector<std::string> solve(const std::vector<deb::Package>& packages,
                                      const deb::Request& req) {
  try {
    return chosen(deb::resolve(deb::Universe(packages), req));
  } catch (const util::Error& e) {
    FAIL("resolve failed: " << e.what());
  }
  return {};
}

/// Resolves, expecting failure; returns the util::Error.
inline util::Error solve_error(const std::vector<deb::Package>& packages,
                               const deb::Request& req) {
  try {
    const auto res = deb::resolve(deb::Universe(packages), req);
    FAIL("expected the resolution to fail, got " << res.packages.size() << " packages");
  } catch (const util::Error& e) {
    return e;
  }
  return util::Error(util::ErrorKind::Internal, "unreachable");
}

using Names = std::vector<std::string>;

}  // namespace strata::test
