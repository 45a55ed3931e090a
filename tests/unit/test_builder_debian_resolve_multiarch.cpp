// Resolver and Multi-Arch: foreign architectures, same/foreign/allowed, ":any", arch all.
#include "debian_resolver_fixture.hpp"

using namespace strata;
using namespace strata::test;
using deb::MultiArch;

namespace {

deb::Request with_i386(std::vector<std::string> packages) {
  auto r = request(std::move(packages));
  r.foreign_architectures = {"i386"};
  return r;
}

}  // namespace

TEST_CASE("foreign-architecture packages need the architecture enabled") {
  const std::vector<deb::Package> u = {Pkg("tool", "1", "i386")};
  const auto e = solve_error(u, request({"tool:i386"}));
  CHECK_THAT(e.what(), Catch::Contains("tool:i386 1 (architecture i386 is not enabled)"));
  CHECK(solve(u, with_i386({"tool:i386"})) == Names{"tool:i386=1"});
  // An unqualified request means the native architecture.
  CHECK_THAT(solve_error(u, with_i386({"tool"})).what(),
             Catch::Contains("its architecture or Multi-Arch does not fit"));
}

TEST_CASE("Multi-Arch: foreign lets a package of another architecture satisfy a dependency") {
  std::vector<deb::Package> u = {
      Pkg("app", "1").depends("helper"),
      Pkg("helper", "1", "i386").multi_arch(MultiArch::Foreign),
  };
  CHECK(solve(u, with_i386({"app"})) == Names{"app=1", "helper:i386=1"});
  u[1].multi_arch = MultiArch::No;
  CHECK_THAT(solve_error(u, with_i386({"app"})).what(),
             Catch::Contains("no package satisfies 'helper' needed by app 1"));
  // The native one is preferred when both exist.
  u[1].multi_arch = MultiArch::Foreign;
  u.push_back(Pkg("helper", "1").multi_arch(MultiArch::Foreign));
  CHECK(solve(u, with_i386({"app"})) == Names{"app=1", "helper=1"});
}

TEST_CASE("dependencies of a foreign package resolve in its architecture") {
  const std::vector<deb::Package> u = {
      Pkg("libbar", "1", "i386").multi_arch(MultiArch::Same).depends("libc6, tzdata, coreutils"),
      Pkg("libc6", "2.36").multi_arch(MultiArch::Same),
      Pkg("libc6", "2.36", "i386").multi_arch(MultiArch::Same),
      Pkg("tzdata", "2024a", "all").multi_arch(MultiArch::Foreign),
      Pkg("coreutils", "9.1").multi_arch(MultiArch::Foreign),
  };
  CHECK(solve(u, with_i386({"libbar:i386"})) ==
        Names{"coreutils=9.1", "libbar:i386=1", "libc6:i386=2.36", "tzdata:all=2024a"});
}

TEST_CASE("Multi-Arch: same packages are co-installable only at the same version") {
  std::vector<deb::Package> u = {
      Pkg("libfoo", "1.0").multi_arch(MultiArch::Same),
      Pkg("libfoo", "1.0", "i386").multi_arch(MultiArch::Same),
      Pkg("bar", "1"),
      Pkg("bar", "1", "i386"),
  };
  const auto res = deb::resolve(deb::Universe(u), with_i386({"libfoo", "libfoo:i386"}));
  CHECK(chosen(res) == Names{"libfoo=1.0", "libfoo:i386=1.0"});
  CHECK(res.find("libfoo:i386")->architecture == "i386");
  CHECK(res.find("libfoo")->architecture == "amd64");

  CHECK_THAT(solve_error(u, with_i386({"bar", "bar:i386"})).what(),
             Catch::Contains("cannot install both bar 1 and bar:i386 1: only one version of bar"));
  u[1] = Pkg("libfoo", "1.1", "i386").multi_arch(MultiArch::Same);
  CHECK_THAT(solve_error(u, with_i386({"libfoo", "libfoo:i386"})).what(),
             Catch::Contains("Multi-Arch: same instances of libfoo must have the same version"));
}

TEST_CASE(":any is satisfied only by Multi-Arch: allowed packages") {
  std::vector<deb::Package> u = {
      Pkg("script", "1", "all").depends("python3:any (>= 3.11)"),
      Pkg("python3", "3.11.2").multi_arch(MultiArch::Allowed),
  };
  CHECK(solve(u, request({"script"})) == Names{"python3=3.11.2", "script:all=1"});
  // With i386 enabled an i386 python3 would do as well, but native is preferred.
  u.push_back(Pkg("python3", "3.11.2", "i386").multi_arch(MultiArch::Allowed));
  CHECK(solve(u, with_i386({"script"})) == Names{"python3=3.11.2", "script:all=1"});
  for (auto m : {MultiArch::No, MultiArch::Foreign, MultiArch::Same}) {
    u[1].multi_arch = m;
    u[2].multi_arch = m;
    CHECK_THAT(solve_error(u, with_i386({"script"})).what(),
               Catch::Contains("no package satisfies 'python3:any (>= 3.11)'"));
  }
}

TEST_CASE("arch-qualified and arch all dependencies") {
  const std::vector<deb::Package> u = {
      Pkg("doc", "1", "all").depends("libz"),
      Pkg("libz", "1").multi_arch(MultiArch::Same),
      Pkg("libz", "1", "i386").multi_arch(MultiArch::Same),
      Pkg("wants-i386", "1").depends("libz:i386"),
      Pkg("wants-native", "1", "i386").depends("libz:native"),
  };
  // arch all depends on the native architecture.
  CHECK(solve(u, with_i386({"doc"})) == Names{"doc:all=1", "libz=1"});
  CHECK(solve(u, with_i386({"wants-i386"})) == Names{"libz:i386=1", "wants-i386=1"});
  CHECK(solve(u, with_i386({"wants-native:i386"})) == Names{"libz=1", "wants-native:i386=1"});
}

TEST_CASE("Conflicts without qualifier hit every architecture") {
  const std::vector<deb::Package> u = {
      Pkg("old", "1", "i386"),
      Pkg("new", "1").conflicts("old"),
  };
  CHECK_THAT(solve_error(u, with_i386({"old:i386", "new"})).what(),
             Catch::Contains("new conflicts with old"));
}
