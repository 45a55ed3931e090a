// The Debian dependency resolver: from a Universe and a Request (package names, priority
// sets, an already-installed lower layer, pins from a lock) to the set of packages to
// install, each with the reason it was chosen, so that `strata why PKG` can explain it.
// The search algorithm is described at the top of resolver.cpp.
//
// Preference rules (what a user can rely on):
// - A relation already satisfied by a chosen or lower-layer package adds nothing; among
//   alternatives ("a | b") the first one that can be satisfied is used, unless a later one
//   is already satisfied.
// - For one name: the newest version (dpkg order) that fits every versioned relation on
//   that name seen so far, a pinned version first when it fits, the native architecture
//   (or "all") before foreign ones.
// - A virtual name: an already chosen provider; else a real package with that name; else
//   the provider with the highest Priority (required > important > standard > optional >
//   extra > none), then the smallest package name, then the newest version.
// - Provides follow Debian policy 7.5: "Provides: x" satisfies only unversioned relations
//   on x; "Provides: x (= v)" also satisfies versioned ones when v does. Conflicts and
//   Breaks reach providers by the same rules; a package never conflicts with itself.
// - Multi-Arch as dpkg: an unqualified relation is satisfied by a package of the
//   depender's architecture ("all" counts as native) or by a Multi-Arch: foreign one of
//   any enabled architecture; "name:any" only by Multi-Arch: allowed packages;
//   "name:ARCH"/"name:native" by that architecture. Multi-Arch: same packages may be
//   installed for several architectures at the same version; any other name only once.
// - Recommends (when enabled) are installed if they can be; otherwise skipped with a note.
// - On failure, the error describes the most preferred branch's problem.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "builder/debian/package.hpp"
#include "builder/debian/universe.hpp"

namespace strata::builder::debian {

/// Which priority-based package sets are added to the request.
enum class PrioritySet {
  None,       // only what is requested
  Minbase,    // + every "Essential: yes" and "Priority: required" package (debootstrap minbase)
  Important,  // + Minbase + every "Priority: important" package
};

/// What to resolve. Plain value; the resolver only reads it.
struct Request {
  /// Native architecture ("amd64"); "all" packages count as native. Required.
  std::string architecture;
  /// Foreign architectures whose packages may be installed (dpkg --add-architecture).
  std::vector<std::string> foreign_architectures;
  /// Requested packages, in order: "name", "name:arch", "name=version",
  /// "name:arch=version" or "name (op version)" with op one of << <= = >= >>.
  std::vector<std::string> packages;
  PrioritySet priorities = PrioritySet::None;
  /// Also install Recommends (a Recommends that cannot be satisfied is skipped, as apt does).
  bool with_recommends = false;
  /// Packages of lower layers: they satisfy relations and are never re-added or replaced;
  /// their own relations are assumed satisfied already.
  std::vector<Package> installed;
  /// Versions from a lock, preferred over every other version that fits. Key "name" or
  /// "name:arch"; value the exact version string.
  std::map<std::string, std::string> pins;
  /// Upper bound on candidate choices tried (backtracking included) before giving up.
  std::size_t max_steps = 200000;
};

/// Why a package was chosen.
enum class ReasonKind { Requested, Priority, PreDepends, Depends, Recommends };

/// The edge that pulled a package into the resolution.
struct Reason {
  ReasonKind kind = ReasonKind::Requested;
  /// The package whose relation pulled this one (empty for Requested and Priority).
  std::string parent;
  std::string parent_version;
  std::string parent_architecture;
  /// The whole relation as in the control file ("libc6 (>= 2.36) | libc6-udeb"), the
  /// request text for Requested, or "Essential: yes" / "Priority: required" for Priority.
  std::string relation;
};

/// One package to install.
struct ChosenPackage {
  std::string name;
  std::string version;
  std::string architecture;
  Package package;
  Reason reason;
};

/// The result of resolve(). Plain value.
struct Resolution {
  /// Packages to install, sorted by name, then architecture. Installed ones are not listed.
  std::vector<ChosenPackage> packages;
  /// Remarks that do not make the resolution fail, sorted: unsatisfied Recommends,
  /// requests already satisfied by a lower layer, duplicate packages in the universe.
  std::vector<std::string> notes;

  /// The chosen package `name` ("name" or "name:arch"); with several architectures of a
  /// Multi-Arch: same package and no ":arch", the first in sort order. nullptr when absent.
  [[nodiscard]] const ChosenPackage* find(std::string_view name) const;
};

/// Resolves `request` against `universe`. Deterministic: the same universe (in any input
/// order, barring duplicates) and request give the same Resolution. Throws util::Error:
/// InvalidInput for a malformed request or version in a relation, NotFound when a needed
/// name has no package and no provider at all, Conflict when the packages cannot be
/// installed together (message: the conflicting pair or the unsatisfiable relation, with the
/// chain of packages that led there). Thread-safe for distinct calls (no shared state).
Resolution resolve(const Universe& universe, const Request& request);

/// One step of an explanation: a package and the edge that pulled it.
struct ExplainStep {
  std::string name;
  std::string version;
  std::string architecture;
  Reason reason;
};

/// The chain that pulled `name` ("name" or "name:arch") into `resolution`, root first:
/// a Requested or Priority package, then each package pulled by the previous one, ending
/// with `name`. Throws util::Error(NotFound) when `name` is not in the resolution.
std::vector<ExplainStep> explain(const Resolution& resolution, std::string_view name);

/// Human text of an explanation, one step per line, e.g.
///   jupyterlab 4.0.11 (amd64): requested as 'jupyterlab'
///   python3-notebook 6.4 (all): Depends of jupyterlab: python3-notebook (>= 6)
[[nodiscard]] std::string format_explanation(const std::vector<ExplainStep>& steps);

/// The relation name used in control files: "Depends", "Pre-Depends", "Recommends",
/// "requested" or "priority".
[[nodiscard]] std::string_view reason_kind_name(ReasonKind kind) noexcept;

}  // namespace strata::builder::debian
