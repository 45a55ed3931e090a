// Resolver basics: chains, alternatives, versions, Provides, priority sets, Recommends,
// lower layers, pins, explanations.
#include "debian_resolver_fixture.hpp"

using namespace strata;
using namespace strata::test;
using deb::ReasonKind;

TEST_CASE("resolver follows a dependency chain and explains it") {
  const std::vector<deb::Package> u = {
      Pkg("app", "1.0").depends("libmid (>= 2)"),
      Pkg("libmid", "2.1").depends("libc6"),
      Pkg("libc6", "2.36-9"),
      Pkg("unrelated", "1.0"),
  };
  const auto res = deb::resolve(deb::Universe(u), request({"app"}));
  CHECK(chosen(res) == Names{"app=1.0", "libc6=2.36-9", "libmid=2.1"});

  const auto steps = deb::explain(res, "libc6");
  REQUIRE(steps.size() == 3);
  CHECK(steps[0].name == "app");
  CHECK(steps[0].reason.kind == ReasonKind::Requested);
  CHECK(steps[1].name == "libmid");
  CHECK(steps[1].reason.relation == "libmid (>= 2)");
  CHECK(steps[2].name == "libc6");
  CHECK(steps[2].reason.kind == ReasonKind::Depends);
  CHECK(steps[2].reason.parent == "libmid");
  CHECK(deb::format_explanation(steps) ==
        "app 1.0 (amd64): requested as 'app'\n"
        "libmid 2.1 (amd64): Depends of app 1.0: libmid (>= 2)\n"
        "libc6 2.36-9 (amd64): Depends of libmid 2.1: libc6\n");
  CHECK_THROWS_AS(deb::explain(res, "unrelated"), util::Error);
}

TEST_CASE("resolver picks the newest version that satisfies every relation") {
  const std::vector<deb::Package> u = {
      Pkg("lib", "1.5"), Pkg("lib", "2.0"), Pkg("lib", "1:0.9"), Pkg("lib", "2.0~rc1"),
      Pkg("a", "1").depends("x, y"),
      Pkg("x", "1").depends("lib"),
      Pkg("y", "1").depends("lib (<< 2)"),
      Pkg("z", "1").depends("lib (<< 2.0), lib (>= 1.1)"),
  };
  CHECK(solve(u, request({"lib"})) == Names{"lib=1:0.9"});  // the epoch wins
  // x's unversioned dependency is processed first, but y's constraint was already seen;
  // 2.0~rc1 sorts after "2" (only "2.0" and longer come after it), so 1.5 is the newest fit.
  CHECK(solve(u, request({"a"})) == Names{"a=1", "lib=1.5", "x=1", "y=1"});
  CHECK(solve(u, request({"z"})) == Names{"lib=2.0~rc1", "z=1"});
  CHECK(solve(u, request({"lib (<< 2.0)", "lib (>= 1.1)"})) == Names{"lib=2.0~rc1"});
  CHECK(solve(u, request({"lib=1.5"})) == Names{"lib=1.5"});
}

TEST_CASE("resolver takes the first satisfiable alternative, preferring chosen ones") {
  const std::vector<deb::Package> u = {
      Pkg("app", "1").depends("missing | mawk | gawk"),
      Pkg("mawk", "1.3"),
      Pkg("gawk", "5.2"),
      Pkg("tool", "1").depends("gawk"),
      Pkg("both", "1").depends("tool, app"),
  };
  CHECK(solve(u, request({"app"})) == Names{"app=1", "mawk=1.3"});
  // gawk is already chosen for tool when app's alternatives are processed.
  CHECK(solve(u, request({"tool", "app"})) == Names{"app=1", "gawk=5.2", "tool=1"});
  // Same through dependencies: breadth-first, tool's gawk is chosen before app's group.
  CHECK(solve(u, request({"both"})) == Names{"app=1", "both=1", "gawk=5.2", "tool=1"});
}

TEST_CASE("Provides: unversioned satisfy only unversioned relations, versioned when in range") {
  const std::vector<deb::Package> u = {
      Pkg("mta-real", "1").provides("mail-transport-agent"),
      Pkg("want-mta", "1").depends("mail-transport-agent"),
      Pkg("want-mta-v", "1").depends("mail-transport-agent (>= 1)"),
      Pkg("python3-numpy", "1.24").provides("python3-numpy-abi9, python3-f2py (= 1.24)"),
      Pkg("want-f2py-new", "1").depends("python3-f2py (>= 1.20)"),
      Pkg("want-f2py-old", "1").depends("python3-f2py (<< 1.20)"),
  };
  CHECK(solve(u, request({"want-mta"})) == Names{"mta-real=1", "want-mta=1"});
  const auto e = solve_error(u, request({"want-mta-v"}));
  CHECK(e.kind() == util::ErrorKind::Conflict);
  CHECK_THAT(e.what(), Catch::Contains("no package satisfies 'mail-transport-agent (>= 1)'") &&
                           Catch::Contains("mta-real 1 provides mail-transport-agent (unversioned"));
  CHECK(solve(u, request({"want-f2py-new"})) == Names{"python3-numpy=1.24", "want-f2py-new=1"});
  CHECK_THAT(solve_error(u, request({"want-f2py-old"})).what(),
             Catch::Contains("python3-numpy 1.24 provides python3-f2py (= 1.24)"));
}

TEST_CASE("virtual package with several providers: documented preference order") {
  std::vector<deb::Package> u = {
      Pkg("zz-awk", "1").provides("awk").priority("required"),
      Pkg("b-awk", "1").provides("awk").priority("optional"),
      Pkg("a-awk", "1").provides("awk").priority("optional"),
      Pkg("app", "1").depends("awk"),
      Pkg("uses-a", "1").depends("a-awk"),
  };
  // Highest Priority first, whatever the name.
  CHECK(solve(u, request({"app"})) == Names{"app=1", "zz-awk=1"});
  // An already chosen provider wins.
  CHECK(solve(u, request({"uses-a", "app"})) == Names{"a-awk=1", "app=1", "uses-a=1"});
  // Equal Priority: the smallest name.
  u[0] = Pkg("zz-awk", "1").provides("awk");
  CHECK(solve(u, request({"app"})) == Names{"a-awk=1", "app=1"});
  // A real package with the name beats every provider.
  u.push_back(Pkg("awk", "0.1").priority("extra"));
  CHECK(solve(u, request({"app"})) == Names{"app=1", "awk=0.1"});
}

TEST_CASE("Pre-Depends are resolved and named as such") {
  const std::vector<deb::Package> u = {
      Pkg("app", "1").pre_depends("dpkg (>= 1.17)"),
      Pkg("dpkg", "1.21"),
  };
  const auto res = deb::resolve(deb::Universe(u), request({"app"}));
  CHECK(chosen(res) == Names{"app=1", "dpkg=1.21"});
  CHECK(res.find("dpkg")->reason.kind == ReasonKind::PreDepends);
  CHECK_THAT(deb::format_explanation(deb::explain(res, "dpkg")),
             Catch::Contains("Pre-Depends of app 1: dpkg (>= 1.17)"));
}

TEST_CASE("priority sets: minbase is Essential + required, important on request") {
  const std::vector<deb::Package> u = {
      Pkg("base-files", "12").essential().priority("required"),
      Pkg("bash", "5.2").essential().depends("base-files"),
      Pkg("libc6", "2.36").priority("required"),
      Pkg("apt", "2.6").priority("important").depends("libc6"),
      Pkg("vim", "9.0").priority("optional"),
      Pkg("foreign-only", "1", "i386").essential(),
  };
  auto req = request({});
  req.priorities = deb::PrioritySet::Minbase;
  const auto res = deb::resolve(deb::Universe(u), req);
  CHECK(chosen(res) == Names{"base-files=12", "bash=5.2", "libc6=2.36"});
  CHECK(res.find("bash")->reason.kind == ReasonKind::Priority);
  CHECK(res.find("bash")->reason.relation == "Essential: yes");
  CHECK(res.find("libc6")->reason.relation == "Priority: required");
  req.priorities = deb::PrioritySet::Important;
  CHECK(solve(u, req) == Names{"apt=2.6", "base-files=12", "bash=5.2", "libc6=2.36"});
  req.priorities = deb::PrioritySet::None;
  CHECK(solve(u, req).empty());
}

TEST_CASE("Recommends are installed only when asked, and skipped when impossible") {
  const std::vector<deb::Package> u = {
      Pkg("app", "1").recommends("extra, ghost"),
      Pkg("extra", "1").depends("libx"),
      Pkg("libx", "1"),
      Pkg("rec-conflict", "1").recommends("enemy"),
      Pkg("enemy", "1").conflicts("rec-conflict"),
  };
  CHECK(solve(u, request({"app"})) == Names{"app=1"});
  auto req = request({"app", "rec-conflict"});
  req.with_recommends = true;
  const auto res = deb::resolve(deb::Universe(u), req);
  CHECK(chosen(res) == Names{"app=1", "extra=1", "libx=1", "rec-conflict=1"});
  CHECK(res.find("extra")->reason.kind == ReasonKind::Recommends);
  REQUIRE(res.notes.size() == 2);
  CHECK_THAT(res.notes[0], Catch::Contains("'enemy' of rec-conflict 1"));
  CHECK_THAT(res.notes[1], Catch::Contains("'ghost' of app 1"));
}

TEST_CASE("installed packages of lower layers satisfy relations and are not re-added") {
  const std::vector<deb::Package> u = {
      Pkg("libc6", "2.36"), Pkg("libc6", "2.37"),
      Pkg("app", "1").depends("libc6 (>= 2.30), sh"),
      Pkg("needs-new", "1").depends("libc6 (>= 2.37)"),
      Pkg("hates-dash", "1").conflicts("dash"),
  };
  auto req = request({"app"});
  req.installed = {Pkg("libc6", "2.36"), Pkg("dash", "0.5").provides("sh")};
  auto res = deb::resolve(deb::Universe(u), req);
  CHECK(chosen(res) == Names{"app=1"});
  // A lower layer's package is never replaced by a newer one.
  req.packages = {"needs-new"};
  auto e = solve_error(u, req);
  CHECK_THAT(e.what(), Catch::Contains("cannot install both libc6 2.36 and libc6 2.37") &&
                           Catch::Contains("libc6 is installed in a lower layer"));
  req.packages = {"hates-dash"};
  e = solve_error(u, req);
  CHECK_THAT(e.what(), Catch::Contains("hates-dash conflicts with dash"));
  req.packages = {"libc6"};
  res = deb::resolve(deb::Universe(u), req);
  CHECK(res.packages.empty());
  REQUIRE(res.notes.size() == 1);
  CHECK_THAT(res.notes[0], Catch::Contains("'libc6' is satisfied by a lower layer"));
}

TEST_CASE("pinned versions from a lock are preferred when they fit") {
  const std::vector<deb::Package> u = {
      Pkg("lib", "1.0"), Pkg("lib", "1.1"), Pkg("lib", "2.0"),
      Pkg("app", "1").depends("lib (>= 1.1)"),
  };
  auto req = request({"app"});
  CHECK(solve(u, req) == Names{"app=1", "lib=2.0"});
  req.pins = {{"lib", "1.1"}};
  CHECK(solve(u, req) == Names{"app=1", "lib=1.1"});
  // A pin that does not fit the relation is not forced.
  req.pins = {{"lib:amd64", "1.0"}};
  CHECK(solve(u, req) == Names{"app=1", "lib=2.0"});
}

TEST_CASE("duplicates keep the first package and are reported") {
  const std::vector<deb::Package> u = {
      Pkg("lib", "1.0").archive("bookworm/main").depends("a"),
      Pkg("lib", "1.0").archive("bookworm-security/main"),
      Pkg("a", "1"),
  };
  const deb::Universe universe(u);
  REQUIRE(universe.duplicates().size() == 1);
  CHECK(universe.duplicates()[0].dropped_archive == "bookworm-security/main");
  const auto res = deb::resolve(universe, request({"lib"}));
  CHECK(chosen(res) == Names{"a=1", "lib=1.0"});
  CHECK(res.find("lib")->package.archive == "bookworm/main");
  REQUIRE(res.notes.size() == 1);
  CHECK_THAT(res.notes[0], Catch::Contains("duplicate package lib 1.0"));
}

TEST_CASE("malformed requests and versions are rejected with the text") {
  const std::vector<deb::Package> u = {Pkg("a", "1")};
  auto e = solve_error(u, request({"a (~> 1)"}));
  CHECK(e.kind() == util::ErrorKind::InvalidInput);
  CHECK_THAT(e.what(), Catch::Contains("'a (~> 1)'"));
  CHECK(solve_error(u, request({"A"})).kind() == util::ErrorKind::InvalidInput);
  CHECK(solve_error(u, request({"a=x1"})).kind() == util::ErrorKind::InvalidInput);
  CHECK_THROWS_AS(deb::Universe({Pkg("bad", "not a version")}), util::Error);
  deb::Request no_arch = request({"a"});
  no_arch.architecture.clear();
  CHECK(solve_error(u, no_arch).kind() == util::ErrorKind::InvalidInput);
}
