// The package model shared by the Debian index parser and the resolver.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace strata::builder::debian {

/// Version relation operator of a dependency (<<, <=, =, >=, >>).
enum class RelOp { None, Less, LessEq, Eq, GreaterEq, Greater };

/// One alternative of a relation: "name[:archqual] [(op version)]".
struct Relation {
  std::string name;
  std::string arch_qualifier;  // "", "any", "native" or an architecture
  RelOp op = RelOp::None;
  std::string version;         // empty when op is None
};

/// A relation field: an AND of ORs (alternatives), e.g. "a | b (>= 1), c".
using RelationList = std::vector<std::vector<Relation>>;

enum class MultiArch { No, Same, Foreign, Allowed };

/// One binary package stanza of a Packages index. Value type.
struct Package {
  std::string name;
  std::string version;
  std::string architecture;  // "amd64", "all", ...
  MultiArch multi_arch = MultiArch::No;
  bool essential = false;
  std::string priority;      // "required", "important", "standard", "optional", "extra"
  std::string section;
  std::string source;        // source package name (defaults to name)
  RelationList pre_depends;
  RelationList depends;
  RelationList recommends;
  RelationList conflicts;
  RelationList breaks;
  RelationList provides;     // alternatives are not allowed here; each inner list has 1 item
  std::string filename;      // archive path, e.g. pool/main/a/apt/apt_2.6.1_amd64.deb
  std::uint64_t size = 0;
  std::string sha256;
  std::string archive;       // which archive (suite/component) it came from, for the lock
};

}  // namespace strata::builder::debian
