// strata.lock: the exact Debian packages of every debian layer of a recipe's stack.
//
// A lock is written by `strata lock` (or by a build that had to resolve) and read by every
// later build: with a lock that agrees with the recipe, a build never resolves, and with
// the .debs already in the store it needs no network at all. The file is TOML, sorted and
// one package per line so that a change shows as a small diff in review:
//
//   version = 1
//   [archive]                       # the verified InRelease the packages were chosen from
//   suite = "bookworm"  ...  inrelease = "sha256:..."  date_epoch = 1731146400
//   [[layer]]                       # one per debian layer, bottom first
//   recipe = "debian-bookworm"  layer = "base"  request = "sha256:..."
//   packages = [
//     { name = "apt", version = "2.6.1", architecture = "amd64", sha256 = "...", size = 1,
//       path = "pool/main/a/apt/apt_2.6.1_amd64.deb", archive = "bookworm/main" },
//   ]
//
// `request` is a digest over what the layer asks for (its debian step, the archive spec)
// chained with the request digests of the debian layers below it: when anything a layer's
// resolution depends on changes, its lock entry no longer agrees.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "builder/debian/package.hpp"
#include "oci/digest.hpp"

namespace strata::builder {

/// The archive a lock was resolved against. Value type.
struct LockedArchive {
  std::string suite;
  std::string codename;
  std::vector<std::string> components;
  std::vector<std::string> architectures;
  oci::Digest inrelease;       // the InRelease file, kept in the store
  std::int64_t date_epoch = 0;  // its Date
};

/// One package of a layer. Value type; ordered by name, then architecture.
struct LockedPackage {
  std::string name;
  std::string version;
  std::string architecture;
  oci::Digest sha256;
  std::uint64_t size = 0;
  std::string path;     // Filename in the archive (pool/...)
  std::string archive;  // "codename/component"
};

/// The package record a lock entry pins (name, version, architecture, pool path, size,
/// sha256, archive): enough to fetch and verify its .deb, without its control fields.
debian::Package package_of(const LockedPackage& p);

/// The packages of one debian layer. Value type.
struct LockedLayer {
  std::string recipe;  // name of the recipe defining the layer
  std::string layer;   // the layer's name, or "#N" (1-based position in its recipe)
  oci::Digest request;
  std::vector<LockedPackage> packages;  // sorted by name, then architecture
};

/// A whole lock file. Value type.
struct Lock {
  std::optional<LockedArchive> archive;  // absent when the stack has no debian layer
  std::vector<LockedLayer> layers;       // bottom layer first

  /// The entry for (recipe, layer), or nullptr.
  [[nodiscard]] const LockedLayer* find(std::string_view recipe, std::string_view layer) const;
  /// sha256 of the lock's text (for image annotations).
  [[nodiscard]] oci::Digest digest() const;
};

/// One package change between two locks.
struct LockChange {
  std::string layer;  // "recipe/layer"
  std::string name;   // package name (":arch" appended for non-native duplicates)
  std::string old_version;  // "" when added
  std::string new_version;  // "" when removed
};

/// What changed from `before` to `after`, layer by layer (matched by recipe and layer
/// name), sorted by layer order of `after`, then package name. A package that moves between
/// layers shows as removed from one and added to the other.
std::vector<LockChange> diff_locks(const Lock& before, const Lock& after);

/// The lock file's text (deterministic: the same Lock gives the same bytes).
std::string lock_text(const Lock& lock);

/// Parses lock text read from `file` (named in errors as FILE:LINE:COL). Throws
/// InvalidInput for malformed or unknown content, Unsupported for a newer version.
Lock parse_lock(std::string_view text, const std::filesystem::path& file);

/// Reads `file`; nullopt when it does not exist. Throws as parse_lock, IO.
std::optional<Lock> read_lock(const std::filesystem::path& file);

/// Writes `file` atomically (temp file, fsync, rename).
void write_lock(const std::filesystem::path& file, const Lock& lock);

/// The lock file of a recipe file: strata.toml -> strata.lock, NAME.toml -> NAME.lock.
std::filesystem::path lock_path_for(const std::filesystem::path& recipe_file);

}  // namespace strata::builder
