// Resolver at scale: determinism under shuffled input, and a synthetic universe the size of
// Debian main whose results are checked by an independent consistency checker.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <random>

#include "debian_resolver_fixture.hpp"

using namespace strata;
using namespace strata::test;

namespace {

// Seeded generator with results that do not depend on the standard library's
// distributions (those are implementation-defined).
class Rng {
 public:
  explicit Rng(std::uint32_t seed) : m_engine(seed) {}
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(m_engine()) % n; }
  bool chance(unsigned percent) { return below(100) < percent; }

 private:
  std::mt19937 m_engine;
};

std::string pname(std::size_t i) {
  std::string s = std::to_string(i);
  return "p" + std::string(5 - std::min<std::size_t>(5, s.size()), '0') + s;
}

// Layered universe: the first k_core packages form a base that everything leans on (like
// libc6 and friends); the rest depend mostly on the base and a little on earlier packages.
// Some names have two versions, some relations are versioned, alternatives, virtual names
// with one to three providers (some versioned), and Conflicts/Breaks against old versions.
std::vector<deb::Package> synthetic_universe(std::size_t n, std::uint32_t seed) {
  constexpr std::size_t k_core = 400;
  constexpr std::size_t k_virtuals = 300;
  Rng rng(seed);
  std::vector<deb::Package> out;
  out.reserve(n + n / 10);
  auto target = [&](std::size_t i) {
    if (i < k_core) {
      return rng.below(std::max<std::size_t>(i, 1));
    }
    return rng.chance(75) ? rng.below(k_core) : k_core + rng.below(i - k_core);
  };
  for (std::size_t i = 0; i < n; ++i) {
    const bool two_versions = rng.chance(10);
    std::string deps;
    const std::size_t ndeps = i == 0 ? 0 : rng.below(i < k_core ? 4 : 6);
    for (std::size_t d = 0; d < ndeps; ++d) {
      const std::size_t t = target(i);
      if (!deps.empty()) {
        deps += ", ";
      }
      const unsigned kind = static_cast<unsigned>(rng.below(100));
      if (kind < 8) {
        deps += pname(t) + " (>= 1.0)";
      } else if (kind < 14) {
        deps += "missing-" + std::to_string(t) + " | " + pname(t) + " | " + pname(target(i));
      } else if (kind < 19) {
        deps += "virt" + std::to_string(rng.below(k_virtuals));
      } else if (kind < 21) {
        deps += "virt" + std::to_string(rng.below(k_virtuals)) + " (>= 1)";
      } else {
        deps += pname(t);
      }
    }
    std::string conflicts;
    if (i >= k_core && rng.chance(3)) {
      conflicts = pname(target(i)) + " (<< 0.5)";
    }
    Pkg newest(pname(i), "1.0");
    newest.depends(deps).conflicts(conflicts);
    if (i >= k_core && rng.chance(2)) {
      newest.breaks(pname(target(i)) + " (<< 1.0)");
    }
    if (rng.chance(4) || i < k_virtuals) {
      const std::size_t v = i < k_virtuals ? i : rng.below(k_virtuals);
      newest.provides("virt" + std::to_string(v) + (rng.chance(50) ? " (= 1.5)" : ""));
    }
    if (rng.chance(5)) {
      newest.recommends(pname(target(i)));
    }
    newest.priority(rng.chance(30) ? "standard" : "optional");
    out.push_back(newest);
    if (two_versions) {
      Pkg old(pname(i), "0.1");
      old.depends(deps);
      out.push_back(old);
    }
  }
  return out;
}

// Independent check: every chosen package's Depends/Pre-Depends hold, nothing conflicts,
// one version per name. Single architecture, so only names, versions and Provides matter.
std::string inconsistency(const deb::Resolution& res) {
  auto matches = [](const deb::Package& p, const deb::Relation& rel) {
    auto ok = [&](const std::string& v) {
      if (rel.op == deb::RelOp::None) {
        return true;
      }
      if (v.empty()) {
        return false;
      }
      const int c = deb::compare_versions(v, rel.version);
      switch (rel.op) {
        case deb::RelOp::Less: return c < 0;
        case deb::RelOp::LessEq: return c <= 0;
        case deb::RelOp::Eq: return c == 0;
        case deb::RelOp::GreaterEq: return c >= 0;
        case deb::RelOp::Greater: return c > 0;
        case deb::RelOp::None: return true;
      }
      return false;
    };
    if (p.name == rel.name && ok(p.version)) {
      return true;
    }
    for (const auto& g : p.provides) {
      if (g.front().name == rel.name && ok(g.front().version)) {
        return true;
      }
    }
    return false;
  };
  for (std::size_t i = 1; i < res.packages.size(); ++i) {
    if (res.packages[i].name == res.packages[i - 1].name) {
      return "two versions of " + res.packages[i].name;
    }
  }
  for (const auto& c : res.packages) {
    for (const auto* field : {&c.package.depends, &c.package.pre_depends}) {
      for (const auto& group : *field) {
        const bool satisfied = std::any_of(group.begin(), group.end(), [&](const auto& rel) {
          return std::any_of(res.packages.begin(), res.packages.end(),
                             [&](const auto& o) { return matches(o.package, rel); });
        });
        if (!satisfied) {
          return c.name + " has an unsatisfied dependency";
        }
      }
    }
    for (const auto* field : {&c.package.conflicts, &c.package.breaks}) {
      for (const auto& group : *field) {
        for (const auto& o : res.packages) {
          if (o.name != c.name && matches(o.package, group.front())) {
            return c.name + " conflicts with " + o.name;
          }
        }
      }
    }
  }
  return {};
}

// The result (or the failure) of a request, reasons included.
std::vector<std::string> fingerprint(const deb::Universe& u, const deb::Request& req) {
  std::vector<std::string> out;
  deb::Resolution res;
  try {
    res = deb::resolve(u, req);
  } catch (const util::Error& e) {
    return {std::string("error: ") + e.what()};
  }
  for (const auto& c : res.packages) {
    out.push_back(c.name + "=" + c.version + " <- " + c.reason.parent + " " +
                  c.reason.relation);
  }
  return out;
}

}  // namespace

TEST_CASE("resolution does not depend on the order of the input packages") {
  auto packages = synthetic_universe(3000, 7);
  const std::vector<std::vector<std::string>> requests = {
      {"p02999"}, {"p01234", "p00777"}, {"p02500", "virt5"}, {"p00401 (<< 1.0)"},
      {"p02000", "p02001", "p02002"}};
  std::vector<std::vector<std::string>> expected;
  {
    const deb::Universe u(packages);
    for (const auto& r : requests) {
      auto req = request(r);
      req.with_recommends = true;
      expected.push_back(fingerprint(u, req));
      CHECK(!expected.back().empty());
    }
  }
  std::mt19937 shuffle_rng(99);
  for (int round = 0; round < 3; ++round) {
    std::shuffle(packages.begin(), packages.end(), shuffle_rng);
    const deb::Universe u(packages);
    for (std::size_t i = 0; i < requests.size(); ++i) {
      auto req = request(requests[i]);
      req.with_recommends = true;
      CHECK(fingerprint(u, req) == expected[i]);
    }
  }
}

TEST_CASE("60k-package universe: 50 requests resolve consistently") {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const deb::Universe u(synthetic_universe(60000, 20240601));
  const auto t1 = Clock::now();
  Rng rng(5);
  std::size_t resolved = 0;
  std::size_t failed = 0;
  std::size_t total_packages = 0;
  for (int i = 0; i < 50; ++i) {
    std::vector<std::string> names;
    const std::size_t count = 1 + rng.below(4);
    for (std::size_t k = 0; k < count; ++k) {
      names.push_back(pname(400 + rng.below(59600)));
    }
    auto req = request(names);
    req.with_recommends = i % 3 == 0;
    req.priorities = i % 10 == 0 ? deb::PrioritySet::Important : deb::PrioritySet::None;
    try {
      const auto res = deb::resolve(u, req);
      INFO("request " << i);
      CHECK(inconsistency(res).empty());
      for (const auto& name : names) {
        CHECK(res.find(name) != nullptr);
      }
      total_packages += res.packages.size();
      ++resolved;
    } catch (const util::Error& e) {
      // Random Conflicts can make a request impossible; the message must say why.
      const std::string what = e.what();
      INFO(what);
      CHECK((what.starts_with("cannot install both") || what.starts_with("no package satisfies")));
      ++failed;
    }
  }
  const auto t2 = Clock::now();
  const auto ms = [](auto d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  std::cout << "resolver scale: universe of " << u.size() << " packages built in " << ms(t1 - t0)
            << " ms; 50 requests (" << resolved << " resolved, " << failed << " failed, "
            << total_packages << " packages chosen) in " << ms(t2 - t1) << " ms\n";
  CHECK(resolved >= 40);
}
