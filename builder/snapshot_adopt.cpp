// Adopting a written tree as its layer's snapshot (see snapshot_adopt.hpp for what is
// normalised and why). One nftw() pass, children before their directory (FTW_DEPTH): each
// entry's xattrs and owner are checked or fixed first and its times set last; nothing here
// creates or removes a directory entry, so no directory's times change after they are set.
// Hardlinks are counted per inode during the pass and compared with st_nlink at the end.
#include "builder/snapshot_adopt.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "builder/snapshots.hpp"
#include "cache/store.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace strata::builder {
namespace {

// Why a tree cannot be adopted (not an error: the blob is unpacked instead).
struct NotAdoptable {
  std::string why;
};

// The state of one walk; nftw() takes no closure, so it travels through t_walk (one walk
// per thread at a time).
struct Walk {
  std::int64_t clamp = 0;
  bool root = ::geteuid() == 0;
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
  const char* opaque_key = ::geteuid() == 0 ? "trusted.overlay.opaque" : "user.overlay.opaque";
  // (dev, ino) -> (st_nlink, paths seen) of regular files with more than one link.
  std::map<std::pair<dev_t, ino_t>, std::pair<nlink_t, nlink_t>> links;
  std::string failed;  // the first error (IO), with errno in `err`
  int err = 0;
  std::string refused;  // why the tree cannot be adopted
};
thread_local Walk* t_walk = nullptr;

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

std::vector<std::string> list_xattrs(const char* path) {
  std::vector<std::string> names;
  std::string buf;
  for (;;) {
    const ssize_t n = ::llistxattr(path, nullptr, 0);
    if (n <= 0) {
      if (n < 0 && errno != ENOTSUP) {
        util::fail_errno(std::string("snapshot: cannot list the xattrs of ") + path);
      }
      return names;
    }
    buf.resize(static_cast<std::size_t>(n));
    const ssize_t m = ::llistxattr(path, buf.data(), buf.size());
    if (m >= 0) {
      buf.resize(static_cast<std::size_t>(m));
      break;
    }
    if (errno != ERANGE) {
      util::fail_errno(std::string("snapshot: cannot list the xattrs of ") + path);
    }
  }
  for (std::size_t pos = 0; pos < buf.size();) {
    const std::size_t end = std::min(buf.find('\0', pos), buf.size());
    if (end > pos) {
      names.push_back(buf.substr(pos, end - pos));
    }
    pos = end + 1;
  }
  return names;
}

bool xattr_is(const char* path, const std::string& name, std::string_view want) {
  char value[8];
  const ssize_t n = ::lgetxattr(path, name.c_str(), value, sizeof value);
  return n >= 0 && std::string_view(value, static_cast<std::size_t>(n)) == want;
}

void remove_xattr(const char* path, const std::string& name) {
  if (::lremovexattr(path, name.c_str()) != 0 && errno != ENODATA) {
    throw NotAdoptable{std::string("cannot remove the xattr ") + name + " of " + path};
  }
}

// Xattrs: as the unpacker would leave them (see snapshot_adopt.hpp). `not_written`: the
// entry's own xattrs are not in the layer (the root, an overlay whiteout).
void normalise_xattrs(Walk& w, const char* path, const struct stat& st, bool not_written) {
  bool opaque = false;
  bool has_key = false;
  for (const std::string& name : list_xattrs(path)) {
    if (starts_with(name, "trusted.overlay.") || starts_with(name, "user.overlay.")) {
      const bool is_opaque = name.ends_with(".overlay.opaque") && xattr_is(path, name, "y");
      opaque = opaque || (S_ISDIR(st.st_mode) && is_opaque);
      if (name == w.opaque_key && is_opaque && S_ISDIR(st.st_mode)) {
        has_key = true;
        continue;
      }
      remove_xattr(path, name);
    } else if (not_written || name == "security.selinux") {
      remove_xattr(path, name);  // not written to the layer, so not unpacked
    } else if (!w.root && (starts_with(name, "security.") || starts_with(name, "trusted."))) {
      throw NotAdoptable{std::string(path) + " has the xattr " + name +
                         ", which an unprivileged unpacker may not be able to restore"};
    }
  }
  if (opaque && !has_key && ::lsetxattr(path, w.opaque_key, "y", 1, 0) != 0) {
    throw NotAdoptable{std::string("cannot mark ") + path + " opaque with " + w.opaque_key};
  }
}

int visit(const char* path, const struct stat* st, int type, struct FTW* ftw) {
  Walk& w = *t_walk;
  if (type == FTW_NS || type == FTW_DNR) {
    w.err = errno;
    w.failed = std::string("cannot read ") + path;
    return 1;
  }
  try {
    if (ftw->level == 0) {  // the root is not an entry of the layer
      normalise_xattrs(w, path, *st, true);
      if (::chmod(path, 0755) != 0) {
        throw NotAdoptable{std::string("cannot chmod ") + path};
      }
      return 0;
    }
    if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0)) {
      // An overlay whiteout, possibly sharing its inode with overlayfs' other whiteouts.
      if ((st->st_uid != w.uid || st->st_gid != w.gid) &&
          ::lchown(path, w.uid, w.gid) != 0) {
        throw NotAdoptable{std::string("cannot chown the whiteout ") + path};
      }
      if ((st->st_mode & 07777) != 0 && ::chmod(path, 0) != 0) {
        throw NotAdoptable{std::string("cannot chmod the whiteout ") + path};
      }
      normalise_xattrs(w, path, *st, true);
      return 0;
    }
    if (!w.root && (st->st_uid != w.uid || st->st_gid != w.gid)) {
      throw NotAdoptable{std::string(path) + " is owned by " + std::to_string(st->st_uid) + ":" +
                         std::to_string(st->st_gid) +
                         ", not by the caller as an unprivileged unpacker makes it"};
    }
    if (st->st_nlink > 1 && !S_ISDIR(st->st_mode)) {
      if (!S_ISREG(st->st_mode)) {
        throw NotAdoptable{std::string(path) + " is a hardlinked non-regular file"};
      }
      auto& [nlink, seen] = w.links[{st->st_dev, st->st_ino}];
      nlink = st->st_nlink;
      ++seen;
    }
    normalise_xattrs(w, path, *st, false);
    const std::int64_t sec = static_cast<std::int64_t>(st->st_mtim.tv_sec);
    timespec ts[2];
    ts[1].tv_sec = static_cast<time_t>(sec < w.clamp ? sec : w.clamp);
    ts[1].tv_nsec = 0;
    ts[0] = ts[1];  // as the unpacker sets them: atime = mtime when the tar has no atime
    if (::utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0) {
      w.err = errno;
      w.failed = std::string("cannot set the times of ") + path;
      return 1;
    }
    return 0;
  } catch (const NotAdoptable& e) {
    w.refused = e.why;
    return 1;
  }
}

}  // namespace

bool adopt_as_snapshot(cache::Store& store, const std::filesystem::path& tree,
                       const oci::Digest& diff_id, std::int64_t source_date_epoch,
                       std::string* why) {
  const auto refuse = [why](std::string reason) {
    if (why != nullptr) {
      *why = std::move(reason);
    }
    return false;
  };
  const std::filesystem::path target = snapshot_path(store, diff_id);
  struct stat st {};
  if (::lstat(target.c_str(), &st) == 0) {
    return refuse("a snapshot of " + diff_id.str() + " exists already");
  }
  Walk walk;
  walk.clamp = source_date_epoch;
  t_walk = &walk;
  const int rc = ::nftw(tree.c_str(), visit, 64, FTW_PHYS | FTW_DEPTH);
  t_walk = nullptr;
  if (!walk.refused.empty()) {
    return refuse(walk.refused);
  }
  if (rc != 0) {
    if (!walk.failed.empty()) {
      util::fail_errno("snapshot: " + walk.failed, walk.err);
    }
    util::fail_errno("snapshot: cannot walk " + tree.string());
  }
  for (const auto& [inode, counts] : walk.links) {
    if (counts.first != counts.second) {
      return refuse("a file of " + tree.string() + " (inode " + std::to_string(inode.second) +
                    ") has links outside the tree");
    }
  }
  util::Fd fd(::open(tree.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    util::fail_errno("snapshot: cannot open " + tree.string());
  }
  // Durable before the name appears: snapshots are trusted without re-hashing.
  if (::syncfs(fd.get()) != 0) {
    util::fail_errno("snapshot: cannot sync " + tree.string());
  }
  const std::filesystem::path dir = target.parent_path();
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    util::fail_errno("snapshot: cannot create " + dir.string());
  }
  if (::renameat2(AT_FDCWD, tree.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) != 0) {
    // exists (another build won), another filesystem, or no RENAME_NOREPLACE
    return refuse("cannot rename " + tree.string() + " to " + target.string());
  }
  util::fsync_dir(dir);
  return true;
}

}  // namespace strata::builder
