#include <catch2/catch.hpp>

#include "oci/reference.hpp"
#include "util/error.hpp"

using strata::oci::Reference;
using strata::util::Error;
using strata::util::ErrorKind;

namespace {
const std::string k_hex = "6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";
const std::string k_digest = "sha256:" + k_hex;

struct Case {
  std::string input;
  std::string registry;
  std::string repository;
  std::string tag;
  std::string digest;  // "" = none
};
}  // namespace

TEST_CASE("reference: normalisation table") {
  const std::vector<Case> cases = {
      {"ubuntu", "docker.io", "library/ubuntu", "latest", ""},
      {"ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", ""},
      {"library/ubuntu", "docker.io", "library/ubuntu", "latest", ""},
      {"docker.io/ubuntu", "docker.io", "library/ubuntu", "latest", ""},
      {"index.docker.io/ubuntu:noble", "docker.io", "library/ubuntu", "noble", ""},
      {"registry-1.docker.io/library/python:3.12", "docker.io", "library/python", "3.12", ""},
      {"jupyter/scipy-notebook", "docker.io", "jupyter/scipy-notebook", "latest", ""},
      {"docker.io/pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime", "docker.io", "pytorch/pytorch",
       "2.3.0-cuda12.1-cudnn8-runtime", ""},
      {"ghcr.io/team/env", "ghcr.io", "team/env", "latest", ""},
      {"ghcr.io/team/sub/env:v1", "ghcr.io", "team/sub/env", "v1", ""},
      {"localhost/env", "localhost", "env", "latest", ""},
      {"localhost:5000/env:dev", "localhost:5000", "env", "dev", ""},
      {"localhost:5000", "docker.io", "library/localhost", "5000", ""},  // as docker reads it
      {"myhost:443/a/b", "myhost:443", "a/b", "latest", ""},
      {"10.0.0.1:5000/x", "10.0.0.1:5000", "x", "latest", ""},
      {"[::1]:5000/x:y", "[::1]:5000", "x", "y", ""},
      {"example.com/a.b_c__d---e/f", "example.com", "a.b_c__d---e/f", "latest", ""},
      {"ubuntu@" + k_digest, "docker.io", "library/ubuntu", "", k_digest},
      {"quay.io/a/b:t@" + k_digest, "quay.io", "a/b", "t", k_digest},
      {"ubuntu:Tag_With.UPPER-case", "docker.io", "library/ubuntu", "Tag_With.UPPER-case", ""},
      {"REG.example.com/x", "REG.example.com", "x", "latest", ""},  // hosts may be upper-case
      {"team/env:" + std::string(128, 't'), "docker.io", "team/env", std::string(128, 't'), ""},
  };
  for (const auto& c : cases) {
    INFO("input: " << c.input);
    const Reference r = Reference::parse(c.input);
    CHECK(r.registry == c.registry);
    CHECK(r.repository == c.repository);
    CHECK(r.tag == c.tag);
    CHECK((r.digest ? r.digest->str() : std::string()) == c.digest);
    // str() is a fixed point of parsing.
    CHECK(Reference::parse(r.str()).str() == r.str());
  }
}

TEST_CASE("reference: invalid references are rejected with the reason") {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "empty"},
      {"Ubuntu", "lowercase"},
      {"docker.io/Library/ubuntu", "lowercase"},
      {"ghcr.io/Team/env", "lowercase"},
      {"ubuntu:", "tag"},
      {"ubuntu:-dash", "tag"},
      {"ubuntu:.dot", "tag"},
      {"ubuntu:" + std::string(129, 't'), "tag"},
      {"ubuntu:a/b", "registry"},  // "ubuntu:a" has a ':', so it is a host with a bad port
      {"ubuntu@sha256:abc", "digest"},
      {"ubuntu@" + k_digest.substr(0, 70), "digest"},
      {"ubuntu@SHA256:" + k_hex, "digest"},
      {k_hex, "image ID"},
      {"a//b", "repository"},
      {"a/b/", "repository"},
      {"-a/b", "repository"},
      {"a_/b", "repository"},
      {"a.-b", "repository"},
      {"a___b", "repository"},
      {"example.com:port/x", "registry"},
      {"-bad.host/x", "registry"},
      {"exa_mple.com/x", "registry"},
      {"[::1/x", "registry"},
      {"ghcr.io/", "repository"},
      {":tag", "missing"},
      {"ghcr.io/" + std::string(250, 'a'), "255"},
      {"ubuntu latest", "repository"},
  };
  for (const auto& [input, why] : bad) {
    INFO("input: " << input);
    try {
      (void)Reference::parse(input);
      FAIL("accepted: " << input);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::InvalidInput);
      CHECK_THAT(e.what(), Catch::Contains(why));
      CHECK_THAT(e.what(), Catch::Contains("invalid image reference"));
    }
  }
}

TEST_CASE("reference: str and identifier") {
  const Reference tagged = Reference::parse("localhost:5000/team/env:v2");
  CHECK(tagged.str() == "localhost:5000/team/env:v2");
  CHECK(tagged.identifier() == "v2");
  const Reference pinned = Reference::parse("team/env@" + k_digest);
  CHECK(pinned.str() == "docker.io/team/env@" + k_digest);
  CHECK(pinned.identifier() == k_digest);
}

TEST_CASE("reference: repository and tag grammars") {
  using strata::oci::is_valid_repository;
  using strata::oci::is_valid_tag;
  CHECK(is_valid_repository("a"));
  CHECK(is_valid_repository("a0/b-c/d.e/f_g/h__i/j--k"));
  CHECK_FALSE(is_valid_repository(""));
  CHECK_FALSE(is_valid_repository("A"));
  CHECK_FALSE(is_valid_repository("a/"));
  CHECK_FALSE(is_valid_repository("a..b"));
  CHECK_FALSE(is_valid_repository("a._b"));
  CHECK_FALSE(is_valid_repository(std::string(256, 'a')));
  CHECK(is_valid_repository(std::string(255, 'a')));
  CHECK(is_valid_tag("_"));
  CHECK(is_valid_tag("v1.0-rc_1"));
  CHECK_FALSE(is_valid_tag(""));
  CHECK_FALSE(is_valid_tag("-v"));
  CHECK_FALSE(is_valid_tag("a+b"));
  CHECK_FALSE(is_valid_tag(std::string(129, 'a')));
}
