// Internal to the resolver: architecture and version matching of relations (dpkg's
// deparchsatisfied() and versionsatisfied()), relation text, request parsing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "builder/debian/package.hpp"
#include "builder/debian/version.hpp"

namespace strata::builder::debian::resolver_detail {

/// The architectures of a resolution. Value type.
struct Arches {
  std::string native;
  std::vector<std::string> foreign;

  /// Packages of this architecture may be installed (native, "all" or a foreign one).
  [[nodiscard]] bool installable(std::string_view arch) const;
  /// "all" (and "") count as the native architecture.
  [[nodiscard]] std::string_view effective(std::string_view arch) const {
    return arch.empty() || arch == "all" ? std::string_view(native) : arch;
  }
};

/// Depends-like relations (Depends, Pre-Depends, Recommends, requests) or Conflicts-like
/// (Conflicts, Breaks): they differ in what an unqualified or ":any" name matches.
enum class RelKind { Depends, Conflicts };

/// dpkg's deparchsatisfied(): may `candidate` satisfy (or, for Conflicts, be hit by) the
/// relation `rel` written by a package of architecture `depender_arch` (already effective)?
/// Unqualified: same architecture, or any when the candidate is Multi-Arch: foreign;
/// ":any": only Multi-Arch: allowed; ":native"/":ARCH": that architecture. Conflicts and
/// Breaks without qualifier or with ":any" hit every architecture.
bool arch_satisfies(const Arches& arches, std::string_view depender_arch, const Relation& rel,
                    const Package& candidate, RelKind kind);

/// Does a version comparison result `cmp` (candidate vs wanted) fulfil `op`?
bool op_satisfies(int cmp, RelOp op) noexcept;

/// "name[:qual] (op version)".
std::string format_relation(const Relation& rel);
/// Alternatives joined with " | ".
std::string format_group(const std::vector<Relation>& group);

/// Parses one request ("name", "name:arch", "name=version", "name (>= 1.0)"), checking the
/// version; throws util::Error(InvalidInput) naming the text.
Relation parse_request(std::string_view text);

/// Rank of a Priority field for choosing between providers: required 0, important 1,
/// standard 2, optional 3, extra 4, anything else 5.
int priority_rank(std::string_view priority) noexcept;

}  // namespace strata::builder::debian::resolver_detail
