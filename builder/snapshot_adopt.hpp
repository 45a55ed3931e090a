// Reusing a freshly built layer's directory as its snapshot (snapshots.hpp).
//
// A system layer is built in an overlay upper dir (then possibly split into several trees,
// layer_split.hpp), each tree is written as a layer blob, and the tree was then deleted; the
// next sandboxed layer of the same build unpacked the blob again into snapshots/<diff_id> to
// use it as an overlay lower dir. adopt_as_snapshot() instead turns the written tree into
// exactly what ensure_snapshot() would unpack from that blob, and renames it into place: one
// metadata pass instead of decompressing, writing and deleting the whole tree again.
//
// What differs between a tree and its blob unpacked in overlay mode, and what is done here
// (the writer is oci/layer_walk.cpp, the unpacker oci/layer_applier*.cpp):
//  - times: the writer records mtime clamped to SOURCE_DATE_EPOCH in whole seconds, the
//    unpacker sets that mtime and atime = mtime: set so on every entry. Overlay whiteouts
//    are recreated by the unpacker with the time of unpacking, which nothing reads.
//  - overlay bookkeeping xattrs (trusted.overlay.* / user.overlay.*: origin, impure, ...):
//    the writer drops them and the unpacker creates none: removed. An opaque directory
//    (opaque=y in either namespace, as the writer reads it) keeps exactly one marker, in
//    the namespace ensure_snapshot writes (user.* rootless, trusted.* as root).
//  - security.selinux: dropped by the writer: removed (not adopted if that fails).
//  - the root directory is not a layer entry: its other xattrs are removed, mode 0755.
//  - overlay whiteouts: char 0:0, mode 0, owned by the caller, as mknod makes them.
//  - rootless (the writer records 0:0, the unpacker's chown fails and the caller owns
//    everything): every entry must belong to the caller; security.* and trusted.* xattrs,
//    which the unpacker may skip, prevent adoption.
//  - hardlinks: a file whose links are not all inside the tree (a split moved one of them to
//    another part) would be unpacked as separate inodes: the tree is not adopted.
// Anything not listed is written from and unpacked to the same value (type, mode, owner as
// root, content, symlink target, other xattrs). Whenever a tree cannot be made to match, it
// is not adopted and the layer above unpacks the blob as before.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "oci/digest.hpp"

namespace strata::cache {
class Store;
}

namespace strata::builder {

/// Turns `tree` (a directory the layer `diff_id` was just written from by
/// oci::write_layer_from_dir with `source_date_epoch`, overlay_whiteouts = true and
/// keep_owners = (geteuid() == 0), on the store's filesystem, possibly an overlay upper dir
/// built on layers below) into that layer's snapshot, identical to what ensure_snapshot
/// would unpack from the blob (see the file comment). Returns true when `tree` has been
/// moved to snapshot_path(store, diff_id); false (tree left where it is, possibly with its
/// metadata changed: the caller removes it) when a snapshot of that diff_id exists already,
/// the rename is refused (another filesystem), or the tree cannot be made identical to the
/// unpacked blob; `why`, when given, then receives the reason. Throws IO when the times
/// cannot be set or the filesystem cannot be synced. Safe for concurrent processes sharing
/// the store (the rename never replaces an existing snapshot); one call per tree at a time.
bool adopt_as_snapshot(cache::Store& store, const std::filesystem::path& tree,
                       const oci::Digest& diff_id, std::int64_t source_date_epoch,
                       std::string* why = nullptr);

}  // namespace strata::builder
