// Reusing a freshly built layer's directory as its snapshot (snapshots.hpp).
//
// A system layer is built in an overlay upper dir, written as a layer blob, and the upper
// dir was then deleted; the next sandboxed layer of the same build unpacked the blob again
// into snapshots/<diff_id> to use it as an overlay lower dir. For a layer built with no
// layers below (no whiteouts, no opaque directories, no copied-up files), the upper dir
// already holds exactly that content except for the file times, which the layer records
// clamped to SOURCE_DATE_EPOCH in whole seconds. adopt_as_snapshot() sets those times, syncs
// the filesystem (a snapshot is trusted without re-hashing, as ensure_snapshot requires) and
// renames the directory into place: one metadata pass instead of decompressing, writing and
// deleting the whole tree again.
#pragma once

#include <cstdint>
#include <filesystem>

#include "oci/digest.hpp"

namespace strata::cache {
class Store;
}

namespace strata::builder {

/// Turns `tree` (the directory the layer `diff_id` was just written from by
/// oci::write_layer_from_dir with `source_date_epoch`, built with no layers below, on the
/// store's filesystem) into that layer's snapshot. Returns true when `tree` has been moved
/// to snapshot_path(store, diff_id); false (tree left where it is, possibly with its times
/// changed) when a snapshot of that diff_id exists already or the rename is refused
/// (another filesystem): the caller then removes `tree` as before. Throws IO when the times
/// cannot be set or the filesystem cannot be synced. Safe for concurrent processes sharing
/// the store (the rename never replaces an existing snapshot).
bool adopt_as_snapshot(cache::Store& store, const std::filesystem::path& tree,
                       const oci::Digest& diff_id, std::int64_t source_date_epoch);

}  // namespace strata::builder
