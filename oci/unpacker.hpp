// Safe layer unpacker: applies hostile OCI layers onto a directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "oci/digest.hpp"
#include "util/io.hpp"

namespace strata::oci {

struct UnpackOptions {
  /// Restore uid/gid from the tar (only effective when running as root or in a user
  /// namespace that maps them); otherwise files belong to the caller.
  bool preserve_owners = false;
  std::size_t max_path_length = 4096;
  std::size_t max_pax_header_size = 1 << 20;  // bytes of PAX extended header per entry
  std::uint64_t max_entries = 10'000'000;
  /// Resolve paths with openat2(2) where the kernel allows it (5.6+; falls back to an
  /// O_NOFOLLOW component walk automatically). false forces the walk (tests, debugging).
  /// Both implement the same policy (see oci/safe_path.cpp).
  bool use_openat2 = true;
  /// Decompress gzip/zstd on a second thread while this one writes files (as
  /// `zstd -dc | tar -x` does); false lets libarchive decompress inline.
  bool pipeline_decompression = true;
  /// Unpack the layer as ONE overlayfs layer directory (a snapshot to be used as an overlay
  /// lower dir) instead of applying it onto lower content. `root` must then be empty.
  /// ".wh.NAME" becomes an overlay whiteout (character device 0:0 named NAME; needs root,
  /// or Linux 5.8+ for an unprivileged caller) unless this layer itself has NAME: a file of
  /// the layer simply stays, a directory of the layer is marked opaque. ".wh..wh..opq" marks
  /// its directory opaque (xattr "trusted.overlay.opaque"="y"). Markers are applied after
  /// all entries, so their position in the tar does not matter. Overlay xattrs carried by
  /// entries (trusted.overlay.*, user.overlay.*) are dropped: they would steer overlayfs.
  bool overlay_whiteouts = false;
  /// With overlay_whiteouts: write the opaque marker as "user.overlay.opaque" (overlayfs
  /// mounted with `userxattr`, as rootless sandboxes do) instead of "trusted.overlay.opaque".
  bool overlay_userxattr = false;
};

struct UnpackStats {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;      // regular file bytes written
  std::uint64_t whiteouts = 0;  // ".wh." entries (whiteouts and opaque markers)
};

/// Applies one layer read from `layer` (compressed as `media_type` says: tar, +gzip, +zstd,
/// Docker gzip) onto `root`, which must exist. Layers must be applied in manifest order.
/// Every path is resolved inside root without following symlinks out of it; absolute
/// paths, "..", device nodes, escaping hardlinks, invalid whiteouts are rejected with
/// InvalidInput naming `layer_digest` and the entry. Nothing is ever written outside root.
/// Not thread-safe for the same root.
UnpackStats unpack_layer(const std::filesystem::path& root, util::Source& layer,
                         const std::string& media_type, const Digest& layer_digest,
                         const UnpackOptions& options = {});

}  // namespace strata::oci
