// Relation fields of Debian control data (deb-control(5), Debian policy 7.1):
// "a (>= 1.0) | b:any, c [amd64 !i386] <!nocheck>".
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "builder/debian/package.hpp"

namespace strata::builder::debian {

/// How arch restrictions and build profiles are evaluated while parsing.
struct RelationContext {
  /// Architecture that "[amd64 !i386]" lists are evaluated for; when empty, restriction
  /// lists are checked for syntax and every relation is kept.
  std::string target_arch;
  /// Active build profiles; "<!nocheck>" keeps a relation while "nocheck" is inactive,
  /// "<stage1>" drops it unless "stage1" is active. Empty: no profile is active.
  std::set<std::string> profiles;
  /// Names the field in messages, e.g. "Packages:120: Depends".
  std::string where;
};

/// Parses a Depends-style field (Depends, Pre-Depends, Recommends, Suggests, Conflicts,
/// Breaks, Replaces, Build-Depends, ...) into an AND of ORs. Operators are <<, <=, =, >=,
/// >> and the obsolete '<' and '>' (meaning <= and >=); versions are validated. An
/// alternative excluded by its arch list or build profiles is dropped, and so is a group
/// left without alternatives. Whitespace includes newlines (folded fields). Throws
/// InvalidInput naming ctx.where and the offending text. Thread-safe.
RelationList parse_relations(std::string_view text, const RelationContext& ctx = {});

/// Parses a Provides field: "name [(= version)]" items, comma-separated; alternatives and
/// operators other than '=' are errors. Each inner list holds exactly one Relation.
RelationList parse_provides(std::string_view text, const RelationContext& ctx = {});

/// Whether `arch` (a Debian architecture such as "amd64") matches `pattern`, which may be
/// an architecture, "any", "all", or a wildcard "linux-any" / "any-amd64".
bool arch_matches(std::string_view arch, std::string_view pattern);

/// The operator's canonical spelling ("<<", "<=", "=", ">=", ">>"; "" for None).
std::string_view rel_op_str(RelOp op) noexcept;

/// Whether `candidate` satisfies "op version" by dpkg's order; RelOp::None accepts all.
bool version_satisfies(std::string_view candidate, RelOp op, std::string_view version);

/// Canonical text of one relation, "name:qual (op version)".
std::string to_string(const Relation& relation);
/// Canonical text of a relation field, "a | b (>= 1), c".
std::string to_string(const RelationList& relations);

}  // namespace strata::builder::debian
