// Resolver failures and backtracking: Conflicts, Breaks, unsatisfiable relations, the
// chains in the messages, the search bound.
#include "debian_resolver_fixture.hpp"

using namespace strata;
using namespace strata::test;

TEST_CASE("a conflict names both packages, the relation and both chains") {
  const std::vector<deb::Package> u = {
      Pkg("jupyterlab", "4.0").depends("python3-notebook, bar"),
      Pkg("python3-notebook", "6.4").depends("foo"),
      Pkg("foo", "1.0"),
      Pkg("bar", "2.0").conflicts("foo (<< 2)"),
  };
  const auto e = solve_error(u, request({"jupyterlab"}));
  CHECK(e.kind() == util::ErrorKind::Conflict);
  CHECK(std::string(e.what()) ==
        "cannot install both bar 2.0 and foo 1.0: bar conflicts with foo (<< 2); "
        "bar was pulled by: jupyterlab -> bar; "
        "foo was pulled by: jupyterlab -> python3-notebook -> foo (Depends: foo)");
  // A newer foo is outside the conflict's range.
  auto fixed = u;
  fixed.push_back(Pkg("foo", "2.0"));
  CHECK(solve(fixed, request({"jupyterlab"})) ==
        Names{"bar=2.0", "foo=2.0", "jupyterlab=4.0", "python3-notebook=6.4"});
}

TEST_CASE("the package whose Conflicts is hit can be the new one") {
  const std::vector<deb::Package> u = {
      Pkg("foo", "1.0"),
      Pkg("bar", "2.0").breaks("foo (<< 2)"),
  };
  CHECK(std::string(solve_error(u, request({"foo", "bar"})).what()) ==
        "cannot install both foo 1.0 and bar 2.0: bar breaks foo (<< 2); "
        "foo was pulled by: foo; bar was requested as 'bar'");
}

TEST_CASE("Conflicts through Provides, versioned only against versioned Provides") {
  const std::vector<deb::Package> u = {
      Pkg("exim4", "4.96").provides("mail-transport-agent"),
      Pkg("postfix", "3.7").provides("mail-transport-agent").conflicts("mail-transport-agent"),
      Pkg("old-mta-hater", "1").conflicts("mail-transport-agent (<< 5)"),
      Pkg("libjpeg62-turbo", "2.1").provides("libjpeg62 (= 6b2)"),
      Pkg("jpeg-hater", "1").conflicts("libjpeg62 (<< 7)"),
  };
  // A package providing and conflicting with the same virtual name is fine alone.
  CHECK(solve(u, request({"postfix"})) == Names{"postfix=3.7"});
  CHECK_THAT(solve_error(u, request({"exim4", "postfix"})).what(),
             Catch::Contains("postfix conflicts with mail-transport-agent"));
  // Versioned Conflicts do not hit an unversioned Provides.
  CHECK(solve(u, request({"exim4", "old-mta-hater"})) == Names{"exim4=4.96", "old-mta-hater=1"});
  CHECK_THAT(solve_error(u, request({"libjpeg62-turbo", "jpeg-hater"})).what(),
             Catch::Contains("cannot install both libjpeg62-turbo 2.1 and jpeg-hater 1"));
}

TEST_CASE("backtracking tries the next alternative and older versions") {
  const std::vector<deb::Package> u = {
      Pkg("base", "1"),
      Pkg("app", "1").depends("x | y"),
      Pkg("x", "1").depends("libold"),
      Pkg("libold", "1").conflicts("base"),
      Pkg("y", "1"),
      Pkg("tool", "1").depends("lib"),
      Pkg("lib", "2").depends("newdep (>= 5)"),
      Pkg("lib", "1"),
      Pkg("newdep", "4"),
  };
  CHECK(solve(u, request({"base", "app"})) == Names{"app=1", "base=1", "y=1"});
  CHECK(solve(u, request({"app"})) == Names{"app=1", "libold=1", "x=1"});
  CHECK(solve(u, request({"tool"})) == Names{"lib=1", "tool=1"});
}

TEST_CASE("an unsatisfiable relation names what is available and the chain") {
  const std::vector<deb::Package> u = {
      Pkg("app", "1").depends("bar"),
      Pkg("bar", "1.0").depends("libfoo (>= 3)"),
      Pkg("libfoo", "2.1"),
  };
  const auto e = solve_error(u, request({"app"}));
  CHECK(e.kind() == util::ErrorKind::Conflict);
  CHECK(std::string(e.what()) ==
        "no package satisfies 'libfoo (>= 3)' needed by bar 1.0 (pulled by: app -> bar); "
        "available: libfoo 2.1");
}

TEST_CASE("a name nobody has is NotFound") {
  const std::vector<deb::Package> u = {Pkg("app", "1").depends("ghost | phantom")};
  auto e = solve_error(u, request({"nonexistent"}));
  CHECK(e.kind() == util::ErrorKind::NotFound);
  CHECK_THAT(e.what(), Catch::StartsWith("no package satisfies 'nonexistent' (requested); "
                                         "no package or provider"));
  e = solve_error(u, request({"app"}));
  CHECK(e.kind() == util::ErrorKind::NotFound);
  CHECK_THAT(e.what(), Catch::Contains("'ghost | phantom' needed by app 1"));
}

TEST_CASE("when every branch fails the preferred branch's failure is reported") {
  const std::vector<deb::Package> u = {
      Pkg("app", "1").depends("a | b"),
      Pkg("a", "1").depends("missing-a (>= 1)"),
      Pkg("missing-a", "0.5"),
      Pkg("b", "1").depends("missing-b"),
  };
  const auto e = solve_error(u, request({"app"}));
  CHECK_THAT(e.what(), Catch::StartsWith("no package satisfies 'missing-a (>= 1)' needed by a 1 "
                                         "(pulled by: app -> a)"));
}

TEST_CASE("a failure unrelated to earlier choices does not try all their combinations") {
  // n independent two-way choices, then a failure none of them can fix: 2^n branches
  // without backjumping.
  std::vector<deb::Package> u;
  std::string deps;
  const int n = 30;
  for (int i = 0; i < n; ++i) {
    const std::string k = std::to_string(i);
    u.push_back(Pkg("c" + k + "a", "1").depends("common"));
    u.push_back(Pkg("c" + k + "b", "1").depends("common"));
    deps += "c" + k + "a | c" + k + "b, ";
  }
  deps += "doomed";
  u.push_back(Pkg("app", "1").depends(deps));
  u.push_back(Pkg("common", "1"));
  u.push_back(Pkg("doomed", "1").depends("nothing (>= 2)"));
  u.push_back(Pkg("nothing", "1"));
  auto req = request({"app"});
  req.max_steps = 1000;
  const auto e = solve_error(u, req);
  CHECK(e.kind() == util::ErrorKind::Conflict);
  CHECK(std::string(e.what()) ==
        "no package satisfies 'nothing (>= 2)' needed by doomed 1 (pulled by: app -> doomed); "
        "available: nothing 1");
}

TEST_CASE("the search is bounded and says so") {
  const std::vector<deb::Package> u = {
      Pkg("app", "1").depends("a, b, c, d, e"),
      Pkg("a", "1"), Pkg("b", "1"), Pkg("c", "1"), Pkg("d", "1"), Pkg("e", "1"),
  };
  auto req = request({"app"});
  req.max_steps = 3;
  const auto e = solve_error(u, req);
  CHECK(e.kind() == util::ErrorKind::Conflict);
  CHECK_THAT(e.what(), Catch::Contains("gave up after 4 choices"));
  req.max_steps = 6;
  CHECK(solve(u, req).size() == 6);
}
