// Overlay mode of LayerApplier (UnpackOptions::overlay_whiteouts): the root is one overlayfs
// layer directory, to be stacked with the other layers' directories as overlay lower dirs,
// instead of the union of all layers so far.
//
// OCI markers become what overlayfs reads: ".wh.NAME" a whiteout (character device 0:0
// named NAME), ".wh..wh..opq" the opaque xattr on its directory. Markers hide lower layers
// only, so they are collected while the entries are written and applied in finish(), when
// the whole layer is on disk: a whiteout whose NAME this layer also has is not a device
// (the layer's own file already hides the lower one; the layer's own directory is marked
// opaque, since the lower directory was deleted, not merged). The result then does not
// depend on where the tar puts the markers.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <cerrno>
#include <cstring>

#include "oci/layer_applier.hpp"
#include "util/error.hpp"

namespace strata::oci {

using util::ErrorKind;

bool LayerApplier::is_overlay_xattr(std::string_view key) noexcept {
  return key.starts_with("trusted.overlay.") || key.starts_with("user.overlay.");
}

void LayerApplier::record_overlay_marker(const std::vector<std::string>& parts,
                                         const std::string& target) {
  // The directory holding the marker is part of this layer's directory even when the tar
  // has no entry for it (created 0755 as for any other entry).
  parent_dir(parts);
  if (target.empty()) {
    m_overlay_opaque.emplace_back(parts.begin(), parts.end() - 1);
  } else {
    std::vector<std::string> path(parts.begin(), parts.end() - 1);
    path.push_back(target);
    m_overlay_whiteouts.push_back(std::move(path));
  }
}

void LayerApplier::mark_opaque(int dir_fd, const std::string& display) const {
  const char* key = m_options.overlay_userxattr ? "user.overlay.opaque" : "trusted.overlay.opaque";
  util::Fd readable(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!readable) {
    util::fail_errno("cannot open directory " + quote_path(display.empty() ? "." : display));
  }
  if (::fsetxattr(readable.get(), key, "y", 1, 0) == 0) {
    return;
  }
  const int err = errno;
  std::string hint;
  if (err == EPERM && !m_options.overlay_userxattr) {
    hint =
        " (trusted.* attributes need root; unprivileged callers unpack with "
        "overlay_userxattr and mount the overlay with userxattr)";
  } else if (err == ENOTSUP) {
    hint =
        " (the filesystem does not support this extended attribute; put the snapshots on "
        "ext4, xfs, btrfs or tmpfs)";
  }
  util::fail(err == ENOTSUP || err == EPERM ? ErrorKind::Unsupported : ErrorKind::IO,
             "cannot mark directory " + quote_path(display.empty() ? "." : display) +
                 " opaque with " + key + ": " + std::strerror(err) + hint);
}

void LayerApplier::apply_overlay_markers() {
  for (const std::vector<std::string>& path : m_overlay_whiteouts) {
    const std::string display = join_path(path, path.size());
    util::Fd parent;
    try {
      parent = m_resolver.open_dir(path, path.size() - 1, RootResolver::Symlinks::FollowInRoot,
                                   RootResolver::Missing::ReturnEmpty);
    } catch (const util::Error& e) {
      if (e.kind() != ErrorKind::InvalidInput) {
        throw;
      }
      continue;  // a later entry replaced an ancestor by a file: nothing lower shows there
    }
    if (!parent) {
      continue;
    }
    const std::string& name = path.back();
    struct stat st {};
    if (::fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISDIR(st.st_mode)) {
        util::Fd dir(
            ::openat(parent.get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!dir) {
          util::fail_errno("cannot open directory " + quote_path(display));
        }
        mark_opaque(dir.get(), display);
      }
      continue;  // this layer's own object (or a duplicate whiteout) hides the lower one
    }
    if (errno != ENOENT) {
      util::fail_errno("cannot stat " + quote_path(display));
    }
    if (::mknodat(parent.get(), name.c_str(), S_IFCHR, makedev(0, 0)) != 0) {
      const int err = errno;
      util::fail(err == EPERM ? ErrorKind::Unsupported : ErrorKind::IO,
                 "cannot create the overlay whiteout " + quote_path(display) +
                     " (character device 0:0): " + std::strerror(err) +
                     (err == EPERM ? " (needs root, or Linux 5.8 or later for an unprivileged "
                                     "caller)"
                                   : ""));
    }
  }
  for (const std::vector<std::string>& dir_path : m_overlay_opaque) {
    util::Fd dir;
    try {
      dir = m_resolver.open_dir(dir_path, dir_path.size(), RootResolver::Symlinks::FollowInRoot,
                                RootResolver::Missing::ReturnEmpty);
    } catch (const util::Error& e) {
      if (e.kind() != ErrorKind::InvalidInput) {
        throw;
      }
      continue;  // replaced by a non-directory later in this layer
    }
    if (dir) {
      mark_opaque(dir.get(), join_path(dir_path, dir_path.size()));
    }
  }
  m_overlay_whiteouts.clear();
  m_overlay_opaque.clear();
}

}  // namespace strata::oci
