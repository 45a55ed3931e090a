// The order in which the packages of one Debian layer are pre-installed, unpacked and
// configured, so that every `preinst` runs when its Pre-Depends are configured.
//
// dpkg guarantees a package's Pre-Depends are configured before its preinst runs and its
// files are unpacked; apt orders its dpkg calls to keep that promise. strata unpacks a
// layer's packages in one go and configures them in one `dpkg --configure -a`, which keeps it
// whenever the Pre-Depends live in a layer below. When a package WITH a preinst pre-depends
// on a package of the same layer, the layer is split into groups: first the Pre-Depends
// targets and everything they depend on (recursively, within the layer), unpacked and
// configured as a group of its own (itself ordered the same way), then the rest. Packages
// without a preinst, or whose Pre-Depends are all below, add no group, so the common case
// stays one group. A cycle (the targets' closure is the whole layer) leaves one group in
// which such a preinst runs after unpacking, as before.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace strata::builder {

/// What the ordering needs to know of one package of the layer.
struct OrderPackage {
  std::string name;
  bool has_preinst = false;
  /// Relation groups (each a list of alternative package names, arch qualifiers removed).
  std::vector<std::vector<std::string>> pre_depends;
  std::vector<std::vector<std::string>> depends;
  /// Names this package provides (virtual packages).
  std::vector<std::string> provides;
};

/// Splits `packages` (indices into it) into groups to install in order; every index appears
/// exactly once; within a group the input order is kept. Deterministic. A single group when
/// no preinst pre-depends on a package of the layer.
std::vector<std::vector<std::size_t>> install_groups(const std::vector<OrderPackage>& packages);

}  // namespace strata::builder
