// The package universe: every binary package the resolver may choose from (one or more
// Packages indexes, several archives or components), indexed by real name and by provided
// (virtual) name. Built once per set of indexes and then only read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "builder/debian/package.hpp"
#include "builder/debian/version.hpp"

namespace strata::builder::debian {

/// Index of a package inside one Universe (0 .. size()-1), stable for its lifetime.
using PackageId = std::uint32_t;

/// Hash for unordered maps keyed by std::string that accepts std::string_view lookups.
/// Maps using it are only ever looked up, never iterated, so their order cannot leak
/// into results.
struct StringViewHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

/// A map from a package name to T with string_view lookups.
template <typename T>
using NameMap = std::unordered_map<std::string, T, StringViewHash, std::equal_to<>>;

/// One "Provides:" entry of a package: package `id` provides
/// `universe.package(id).provides[group][0]`.
struct Provider {
  PackageId id = 0;
  std::uint32_t group = 0;
};

/// A package dropped because an earlier one had the same name, version and architecture.
struct DuplicatePackage {
  std::string name;
  std::string version;
  std::string architecture;
  std::string kept_archive;     // archive of the package that was kept (the first seen)
  std::string dropped_archive;  // archive of the one that was dropped
};

/// An immutable set of packages with name and Provides indexes. Construction parses every
/// version (dpkg rules) and throws util::Error(InvalidInput) naming the package and its
/// archive when one is invalid. After construction every method is const and the object
/// may be shared by threads without locking. Copyable and movable (indexes hold ids, not
/// pointers).
class Universe {
 public:
  /// Takes the packages in priority order: when name+version+architecture repeats, the
  /// first one is kept and the later one is recorded in duplicates().
  explicit Universe(std::vector<Package> packages);

  /// Number of packages kept.
  [[nodiscard]] std::size_t size() const noexcept { return m_packages.size(); }
  /// The package with this id (id < size()).
  [[nodiscard]] const Package& package(PackageId id) const { return m_packages[id]; }
  /// Its parsed version.
  [[nodiscard]] const Version& version(PackageId id) const { return m_versions[id]; }

  /// Every package called `name`, newest version first (dpkg order); equal versions are
  /// ordered by architecture name. Empty when there is none.
  [[nodiscard]] std::span<const PackageId> versions_of(std::string_view name) const;

  /// Every package that Provides `name`, ordered by provider name, then newest provider
  /// version first, then provider architecture. Empty when there is none.
  [[nodiscard]] std::span<const Provider> providers_of(std::string_view name) const;

  /// The Provides entry a Provider refers to.
  [[nodiscard]] const Relation& provide(const Provider& p) const {
    return m_packages[p.id].provides[p.group].front();
  }

  /// Every real package name, sorted bytewise.
  [[nodiscard]] const std::vector<std::string>& names() const noexcept { return m_names; }

  /// Packages dropped as duplicates, in input order.
  [[nodiscard]] const std::vector<DuplicatePackage>& duplicates() const noexcept {
    return m_duplicates;
  }

 private:
  std::vector<Package> m_packages;
  std::vector<Version> m_versions;
  NameMap<std::vector<PackageId>> m_by_name;
  NameMap<std::vector<Provider>> m_providers;
  std::vector<std::string> m_names;
  std::vector<DuplicatePackage> m_duplicates;
};

}  // namespace strata::builder::debian
