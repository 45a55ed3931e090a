// Layer planning for big Debian layers: a debian layer whose packages weigh more than the
// layer budget is written as several layers, so that pulls parallelise and a one-package
// update re-downloads one part, not the whole layer.
//
// The split is a pure function of the lock (package names and .deb sizes) and the budget:
// parts = ceil(total .deb bytes / budget), capped so the image stays within 100 layers;
// packages are dealt largest first (ties by name) to the part with the fewest bytes so far
// (ties: the lowest part). The layer's files are then moved, package by package, into the
// part's tree (a file belongs to the package whose info/<pkg>.list names it, merged-/usr
// paths followed). Everything no package owns — the dpkg database, maintainer-script output,
// whiteouts and opaque directories — forms a first "rest" part, written before the package
// parts: its whiteouts hide only what is below the layer, never a package part's files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "builder/lock.hpp"

namespace strata::builder {

/// Default budget: .deb bytes per part (the .debs are xz/zstd-compressed, close to the
/// size the layer blob will have).
inline constexpr std::uint64_t k_default_layer_budget = 512ULL << 20;
/// Most layers an image may have.
inline constexpr std::size_t k_max_image_layers = 100;

/// One part of a split debian layer.
struct LayerPart {
  std::vector<std::size_t> packages;  // indices into LockedLayer::packages, ascending
  std::uint64_t bytes = 0;            // sum of their .deb sizes
};

/// How `locked` is split under `budget` when at most `max_parts` parts are allowed: one part
/// (no split) or several package parts (the rest part is implied). Pure; thread-safe.
std::vector<LayerPart> split_packages(const LockedLayer& locked, std::uint64_t budget,
                                      std::size_t max_parts);

/// Moves the files of each part's packages out of `upper` into new directories
/// `<scratch>/part-<k>` (k = 1..parts.size()) and returns them in order; `upper` keeps the
/// rest. `lower_dirs` (topmost first) tell which of /bin, /lib, ... are merged-/usr links.
/// Parent directories are recreated in each part with the same owner and mode. Throws IO.
std::vector<std::filesystem::path> split_tree(const std::filesystem::path& upper,
                                              const std::vector<std::filesystem::path>& lower_dirs,
                                              const LockedLayer& locked,
                                              const std::vector<LayerPart>& parts,
                                              const std::filesystem::path& scratch);

}  // namespace strata::builder
