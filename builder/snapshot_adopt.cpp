#include "builder/snapshot_adopt.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "builder/snapshots.hpp"
#include "cache/store.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace strata::builder {
namespace {

// nftw() takes no closure: the clamp and the first error travel through these (one walk per
// thread at a time).
thread_local std::int64_t t_clamp = 0;
thread_local int t_errno = 0;
thread_local const char* t_failed = nullptr;
thread_local std::string t_failed_path;

int set_times(const char* path, const struct stat* st, int type, struct FTW* ftw) {
  if (ftw->level == 0 || type == FTW_NS || type == FTW_DNR) {
    if (type == FTW_NS || type == FTW_DNR) {
      t_errno = errno;
      t_failed = "cannot read";
      t_failed_path = path;
      return 1;
    }
    return 0;  // the root is not an entry of the layer
  }
  const std::int64_t sec = static_cast<std::int64_t>(st->st_mtim.tv_sec);
  timespec ts[2];
  ts[1].tv_sec = static_cast<time_t>(sec < t_clamp ? sec : t_clamp);
  ts[1].tv_nsec = 0;
  ts[0] = ts[1];  // as the unpacker sets them: atime = mtime when the tar has no atime
  if (::utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0) {
    t_errno = errno;
    t_failed = "cannot set the times of";
    t_failed_path = path;
    return 1;
  }
  return 0;
}

}  // namespace

bool adopt_as_snapshot(cache::Store& store, const std::filesystem::path& tree,
                       const oci::Digest& diff_id, std::int64_t source_date_epoch) {
  const std::filesystem::path target = snapshot_path(store, diff_id);
  struct stat st {};
  if (::lstat(target.c_str(), &st) == 0) {
    return false;
  }
  t_clamp = source_date_epoch;
  t_errno = 0;
  t_failed = nullptr;
  // Depth first (FTW_DEPTH): a directory's times are set after its children are touched,
  // though utimensat on a child never changes its parent's times anyway.
  if (::nftw(tree.c_str(), set_times, 64, FTW_PHYS | FTW_DEPTH) != 0) {
    if (t_failed != nullptr) {
      util::fail_errno(std::string("snapshot: ") + t_failed + " " + t_failed_path, t_errno);
    }
    util::fail_errno("snapshot: cannot walk " + tree.string());
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
    return false;  // exists (another build won), another filesystem, or no RENAME_NOREPLACE
  }
  util::fsync_dir(dir);
  return true;
}

}  // namespace strata::builder
