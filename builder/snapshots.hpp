// Layer snapshots: each layer unpacked once, as an overlayfs layer directory, and kept in
// the store so that sandboxed steps (`run`, Debian configure) can stack the layers so far
// as overlay lower dirs without unpacking the image again for every step.
//
// Layout: <store root>/snapshots/<diff_id hex>/ is the layer's content with OCI whiteouts
// turned into overlay whiteouts (character devices 0:0) and opaque directories (xattr
// trusted.overlay.opaque=y as root, user.overlay.opaque=y otherwise, matching how the
// sandbox mounts its overlay). A snapshot is created in snapshots/.tmp-XXXXXX and renamed
// into place only after the uncompressed stream hashed to the diff_id, so a snapshot
// directory is always complete and verified. Snapshots are not tracked in the database and
// `strata cache gc` leaves them alone: the whole snapshots/ directory may be deleted
// whenever no build runs; snapshots are recreated on demand. See docs/sandbox.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "oci/digest.hpp"

namespace strata::cache {
class Store;
}

namespace strata::builder {

/// Returns the directory holding layer `diff_id` unpacked as an overlay lower dir,
/// creating it from the store blob `blob` (media type `media_type`: OCI or Docker layer,
/// tar, tar+gzip or tar+zstd) when missing. An existing snapshot is returned as it is,
/// without reading the blob. Creation unpacks with the safe unpacker (owners preserved when
/// running as root) into snapshots/.tmp-XXXXXX, checks that the uncompressed stream hashes
/// to `diff_id`, syncs the filesystem and renames the directory into place; when another
/// process or thread won the race, its snapshot is used and ours removed. Throws
/// (leaving nothing behind): NotFound when the blob is not in the store; Corruption when
/// the blob does not decompress or does not hash to `diff_id` (naming both); InvalidInput
/// when the layer is hostile (see oci/unpacker.hpp) or the store path contains ':' ',' or
/// '\\' (overlayfs cannot take such lower dirs); Unsupported for an unknown media type or
/// when the filesystem or kernel cannot hold overlay whiteouts; IO otherwise.
/// Thread-safe, and safe for concurrent processes sharing the store.
std::filesystem::path ensure_snapshot(cache::Store& store, const oci::Digest& diff_id,
                                      const oci::Digest& blob, const std::string& media_type);

/// Where the snapshot of `diff_id` lives (whether or not it exists). Throws InvalidInput
/// for the store paths ensure_snapshot refuses. Thread-safe.
std::filesystem::path snapshot_path(const cache::Store& store, const oci::Digest& diff_id);

/// Removes snapshots/.tmp-* directories left by crashed processes: those whose last change
/// is older than `older_than` seconds and that no live process holds (a process creating a
/// snapshot holds a lock on its temp dir). ensure_snapshot runs it (one hour) before it
/// creates a snapshot. Returns how many were removed. Never throws. Thread-safe.
std::size_t sweep_snapshot_temps(const cache::Store& store,
                                 std::int64_t older_than = 3600) noexcept;

}  // namespace strata::builder
