// Applying one layer's entries onto a root directory.
//
// Every entry is handled the same way: its path is validated and split
// (split_archive_path), its parent directory is resolved inside the root by RootResolver
// (missing entry-path directories are created 0755, symlinks only followed in-root, see
// safe_path.cpp), and the last component is created relative to that parent descriptor
// with O_NOFOLLOW / *at() calls, never through a path string. Whatever already occupies
// the last component is replaced, never followed (OCI changeset rules): a directory over
// a directory merges, anything else is removed first (a directory with its whole tree).
// The parent descriptor of the previous entry is cached, since sorted layers put siblings
// next to each other; whiteouts, the only operations that can remove an ancestor of the
// cached directory, drop the cache.
//
// Whiteouts apply to lower layers only. Every object this layer creates (or merges into)
// is recorded as (device, inode of its directory, name). ".wh.NAME" removes NAME unless it
// is recorded; ".wh..wh..opq" removes every unrecorded child of its directory. For a
// directory the rule applies recursively: unrecorded content inside is removed (also
// inside a recorded directory that this layer merged onto a lower one), and an unrecorded
// directory itself only if nothing of this layer is left in it. So the result does not
// depend on whether the tar puts the marker before or after this layer's siblings.
//
// Metadata: owners (only with preserve_owners; EPERM/EINVAL from an unmapped id are
// ignored, the caller then owns the file), then mode (setuid/setgid of non-directories
// only with preserve_owners, since without it files belong to the caller, possibly root),
// then xattrs (security.* and trusted.* are skipped when the filesystem refuses them to
// an unprivileged caller or does not support them; anything else refused is an error),
// then times (utimensat, AT_SYMLINK_NOFOLLOW for links). Directory modes and times are
// applied in finish(), after all content of the layer, children before parents; new
// directories are 0700 until then so that an unprivileged caller can fill them.
// Device nodes are never created; fifos are.
//
// With UnpackOptions::overlay_whiteouts the root is one overlayfs layer directory, not the
// union of the layers so far: whiteouts and opaque markers are recorded and turned into
// overlay whiteouts and opaque xattrs by finish() (layer_applier_overlay.cpp).
#include "oci/layer_applier.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "util/error.hpp"
#include "util/io.hpp"

namespace strata::oci {

namespace {

constexpr std::string_view k_opaque = ".wh..wh..opq";
constexpr std::string_view k_meta_prefix = ".wh..wh.";
constexpr std::string_view k_whiteout_prefix = ".wh.";

using util::ErrorKind;

std::string created_key(const DirId& dir, std::string_view name) {
  std::string key(sizeof dir.dev + sizeof dir.ino, '\0');
  std::memcpy(key.data(), &dir.dev, sizeof dir.dev);
  std::memcpy(key.data() + sizeof dir.dev, &dir.ino, sizeof dir.ino);
  key += name;
  return key;
}

// The process umask, read without changing it (umask(2) would race with other threads).
mode_t current_umask() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("Umask:")) {
      return static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8));
    }
  }
  return 0777;
}

bool entry_times(archive_entry* e, timespec (&ts)[2]) {
  if (archive_entry_mtime_is_set(e) == 0) {
    return false;
  }
  ts[1].tv_sec = archive_entry_mtime(e);
  ts[1].tv_nsec = archive_entry_mtime_nsec(e);
  if (archive_entry_atime_is_set(e) != 0) {
    ts[0].tv_sec = archive_entry_atime(e);
    ts[0].tv_nsec = archive_entry_atime_nsec(e);
  } else {
    ts[0] = ts[1];
  }
  return true;
}

void set_times_at(archive_entry* e, int parent, const std::string& name) {
  timespec ts[2];
  if (entry_times(e, ts) && ::utimensat(parent, name.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) {
    util::fail_errno("cannot set times");
  }
}

// Path of `name` in the directory open as `parent`, usable by path-only calls
// (lsetxattr) without resolving anything but the last, unfollowed component.
std::string proc_path(int parent, const std::string& name) {
  return "/proc/self/fd/" + std::to_string(parent) + "/" + name;
}

}  // namespace

LayerApplier::LayerApplier(const std::filesystem::path& root, const UnpackOptions& options)
    : m_resolver(root.string(),
                 options.use_openat2 ? RootResolver::Method::Auto : RootResolver::Method::WalkOnly),
      m_options(options),
      m_privileged(::geteuid() == 0),
      m_umask(current_umask()) {
  std::error_code ec;
  if (options.overlay_whiteouts && !std::filesystem::is_empty(root, ec)) {
    util::fail(ErrorKind::InvalidInput,
               "unpacking as an overlay layer needs an empty directory, and " + root.string() +
                   (ec ? " cannot be read: " + ec.message() : " is not empty"));
  }
}

void LayerApplier::apply(archive* a, archive_entry* e) {
  const char* raw_path = archive_entry_pathname(e);
  if (raw_path == nullptr) {
    util::fail(ErrorKind::InvalidInput, "entry has no path");
  }
  const std::vector<std::string> parts =
      split_archive_path(raw_path, m_options.max_path_length, "path");
  const char* link = archive_entry_hardlink(e);
  const mode_t type = archive_entry_filetype(e);
  ++m_stats.entries;

  if (parts.empty()) {
    if (type == AE_IFDIR && link == nullptr) {
      return;  // "./": the root itself exists already; its metadata is the caller's
    }
    util::fail(ErrorKind::InvalidInput, "entry would replace the root directory");
  }
  const std::string& name = parts.back();
  if (name.starts_with(k_whiteout_prefix)) {
    apply_whiteout(parts);
    return;
  }
  const std::string display = join_path(parts, parts.size());

  // Validate everything that does not need the disk before creating parents.
  std::vector<std::string> link_parts;
  if (link != nullptr) {
    link_parts = split_archive_path(link, m_options.max_path_length, "hardlink target");
    if (link_parts.empty()) {
      util::fail(ErrorKind::InvalidInput, "hardlink target is the root directory");
    }
  } else if (type == AE_IFCHR || type == AE_IFBLK) {
    util::fail(ErrorKind::InvalidInput,
               "device nodes are not allowed in layers (strata never creates them)");
  } else if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK && type != AE_IFIFO) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0%o", static_cast<unsigned>(type));
    util::fail(ErrorKind::InvalidInput, std::string("unsupported entry type ") + buf);
  }

  const int parent = parent_dir(parts);
  if (link != nullptr) {
    make_hardlink(e, link_parts, parent, name, display);
    return;
  }
  switch (type) {
    case AE_IFDIR:
      make_dir(e, parts, parent, display);
      break;
    case AE_IFREG:
      make_file(a, e, parent, name, display);
      break;
    case AE_IFLNK:
      make_symlink(e, parent, name, display);
      break;
    default:
      make_fifo(e, parent, name, display);
      break;
  }
}

int LayerApplier::parent_dir(const std::vector<std::string>& parts) {
  const std::size_t n = parts.size() - 1;
  std::string key = join_path(parts, n);
  if (m_parent_valid && key == m_parent_key) {
    return m_parent_fd.get();
  }
  invalidate_parent_cache();
  m_parent_fd = m_resolver.open_dir(
      parts, n, RootResolver::Symlinks::FollowInRoot, RootResolver::Missing::Create,
      [this](int dir, const std::string& created) { mark_created(dir_id(dir), created); });
  m_parent_id = dir_id(m_parent_fd.get());
  m_parent_key = std::move(key);
  m_parent_valid = true;
  return m_parent_fd.get();
}

void LayerApplier::invalidate_parent_cache() noexcept {
  m_parent_valid = false;
  m_parent_fd.reset();
}

void LayerApplier::mark_created(const DirId& dir, const std::string& name) {
  m_created.insert(created_key(dir, name));
}

bool LayerApplier::created_here(const DirId& dir, const std::string& name) const {
  return m_created.contains(created_key(dir, name));
}

void LayerApplier::clear_slot(int parent, const std::string& name, const std::string& display) {
  struct stat st {};
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) {
      return;
    }
    util::fail_errno("cannot stat existing " + quote_path(display));
  }
  if (S_ISDIR(st.st_mode)) {
    remove_tree_at(parent, name, display);
  } else if (::unlinkat(parent, name.c_str(), 0) != 0 && errno != ENOENT) {
    util::fail_errno("cannot replace existing " + quote_path(display));
  }
}

void LayerApplier::apply_whiteout(const std::vector<std::string>& parts) {
  const std::string& name = parts.back();
  ++m_stats.whiteouts;
  std::string target;
  if (name != k_opaque) {
    if (name.starts_with(k_meta_prefix)) {
      util::fail(ErrorKind::InvalidInput,
                 "reserved whiteout name (only '.wh..wh..opq' is defined by OCI)");
    }
    target = name.substr(k_whiteout_prefix.size());
    if (target.empty() || target == "." || target == "..") {
      util::fail(ErrorKind::InvalidInput, "invalid whiteout: it names '" + target +
                                              "', not a file (whiteouts are '.wh.NAME')");
    }
  }
  if (m_options.overlay_whiteouts) {
    record_overlay_marker(parts, target);
    return;
  }
  util::Fd dir = m_resolver.open_dir(parts, parts.size() - 1, RootResolver::Symlinks::FollowInRoot,
                                     RootResolver::Missing::ReturnEmpty);
  if (!dir) {
    return;  // the directory does not exist: nothing lower to hide
  }
  invalidate_parent_cache();
  const std::string dir_display = join_path(parts, parts.size() - 1);
  if (name == k_opaque) {
    util::Fd readable(::openat(dir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!readable) {
      util::fail_errno("cannot open directory " + quote_path(dir_display));
    }
    clean_lower(readable.get(), dir_display);
  } else {
    remove_lower(dir.get(), dir_id(dir.get()), target,
                 dir_display.empty() ? target : dir_display + "/" + target);
  }
}

void LayerApplier::remove_lower(int dir_fd, const DirId& dir, const std::string& name,
                                const std::string& display) {
  // Objects of this layer survive; a directory of this layer merged onto a lower one
  // still loses the lower content inside it (the upper directory replaces it).
  const bool mine = created_here(dir, name);
  struct stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) {
      return;
    }
    util::fail_errno("cannot stat " + quote_path(display));
  }
  if (!S_ISDIR(st.st_mode)) {
    if (!mine && ::unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT) {
      util::fail_errno("cannot remove " + quote_path(display));
    }
    return;
  }
  util::Fd child(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!child && errno == EACCES) {
    ::fchmodat(dir_fd, name.c_str(), 0700, 0);
    child.reset(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  }
  if (!child) {
    util::fail_errno("cannot open directory " + quote_path(display));
  }
  clean_lower(child.get(), display);
  child.reset();
  // Removed only if nothing of this layer is left inside.
  if (!mine && ::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOTEMPTY &&
      errno != EEXIST && errno != ENOENT) {
    util::fail_errno("cannot remove directory " + quote_path(display));
  }
}

void LayerApplier::clean_lower(int dir_fd, const std::string& display) {
  const DirId id = dir_id(dir_fd);
  util::Fd listing(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!listing) {
    util::fail_errno("cannot open directory " + quote_path(display));
  }
  for (const std::string& n : list_directory(std::move(listing), display)) {
    remove_lower(dir_fd, id, n, display.empty() ? n : display + "/" + n);
  }
}

mode_t LayerApplier::permissions(archive_entry* e, bool is_dir) const {
  auto mode = static_cast<mode_t>(archive_entry_perm(e) & 07777);
  if (!m_options.preserve_owners) {
    mode &= is_dir ? static_cast<mode_t>(~S_ISUID) : static_cast<mode_t>(~(S_ISUID | S_ISGID));
  }
  return mode;
}

void LayerApplier::set_owner_at(archive_entry* e, int parent, const std::string& name) {
  if (!m_options.preserve_owners) {
    return;
  }
  const auto uid = static_cast<uid_t>(archive_entry_uid(e));
  const auto gid = static_cast<gid_t>(archive_entry_gid(e));
  if (::fchownat(parent, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0 && errno != EPERM &&
      errno != EINVAL) {
    util::fail_errno("cannot change owner");
  }
}

void LayerApplier::set_xattrs(archive_entry* e, int fd, int parent, const std::string& name) {
  if (archive_entry_xattr_reset(e) == 0) {
    return;
  }
  const char* key = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
    if (m_options.overlay_whiteouts && is_overlay_xattr(key)) {
      continue;
    }
    const int rc = fd >= 0 ? ::fsetxattr(fd, key, value, size, 0)
                           : ::lsetxattr(proc_path(parent, name).c_str(), key, value, size, 0);
    if (rc == 0) {
      continue;
    }
    const int err = errno;
    const std::string_view k = key;
    const bool privileged_ns = k.starts_with("security.") || k.starts_with("trusted.");
    if (privileged_ns && (err == ENOTSUP || (!m_privileged && (err == EPERM || err == EACCES)))) {
      continue;
    }
    util::fail_errno("cannot set extended attribute " + quote_path(k), err);
  }
}

void LayerApplier::make_dir(archive_entry* e, const std::vector<std::string>& parts, int parent,
                            const std::string& display) {
  const std::string& name = parts.back();
  if (::mkdirat(parent, name.c_str(), 0700) != 0) {
    if (errno != EEXIST) {
      util::fail_errno("cannot create directory");
    }
    struct stat st {};
    if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      util::fail_errno("cannot stat existing entry");
    }
    if (!S_ISDIR(st.st_mode)) {
      clear_slot(parent, name, display);
      if (::mkdirat(parent, name.c_str(), 0700) != 0) {
        util::fail_errno("cannot create directory");
      }
    }
  }
  mark_created(m_parent_id, name);
  set_owner_at(e, parent, name);
  if (archive_entry_xattr_count(e) > 0) {
    util::Fd fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      util::fail_errno("cannot open directory");
    }
    set_xattrs(e, fd.get(), parent, name);
  }
  DeferredDir d{parts, permissions(e, true), false, {}};
  d.has_times = entry_times(e, d.times);
  m_dirs.push_back(std::move(d));
}

void LayerApplier::make_file(archive* a, archive_entry* e, int parent, const std::string& name,
                             const std::string& display) {
  const mode_t mode = permissions(e, false);
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  util::Fd fd(::openat(parent, name.c_str(), flags, mode & 0777));
  if (!fd && errno == EEXIST) {
    clear_slot(parent, name, display);
    fd.reset(::openat(parent, name.c_str(), flags, mode & 0777));
  }
  if (!fd) {
    util::fail_errno("cannot create file");
  }
  mark_created(m_parent_id, name);

  std::int64_t pos = 0;
  for (;;) {
    const void* buf = nullptr;
    std::size_t size = 0;
    la_int64_t offset = 0;
    const int r = archive_read_data_block(a, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) {
      break;
    }
    if (r != ARCHIVE_OK) {
      const char* msg = archive_error_string(a);
      util::fail(ErrorKind::Corruption,
                 std::string("cannot read file data: ") + (msg ? msg : "unknown error"));
    }
    if (offset != pos) {  // sparse file: leave a hole
      if (offset < pos || ::lseek(fd.get(), offset, SEEK_SET) < 0) {
        util::fail(ErrorKind::Corruption, "invalid sparse file data offset");
      }
      pos = offset;
    }
    util::write_all(fd.get(), buf, size, "file");
    pos += static_cast<std::int64_t>(size);
    m_stats.bytes += size;
  }
  if (pos < archive_entry_size(e) && ::ftruncate(fd.get(), archive_entry_size(e)) != 0) {
    util::fail_errno("cannot extend sparse file");
  }
  if (m_options.preserve_owners) {
    if (::fchown(fd.get(), static_cast<uid_t>(archive_entry_uid(e)),
                 static_cast<gid_t>(archive_entry_gid(e))) != 0 &&
        errno != EPERM && errno != EINVAL) {
      util::fail_errno("cannot change owner");
    }
  }
  if ((mode & ~static_cast<mode_t>(0777)) != 0 || (mode & m_umask) != 0 ||
      m_options.preserve_owners) {
    if (::fchmod(fd.get(), mode) != 0) {
      util::fail_errno("cannot set mode");
    }
  }
  set_xattrs(e, fd.get(), parent, name);
  timespec ts[2];
  if (entry_times(e, ts) && ::futimens(fd.get(), ts) != 0) {
    util::fail_errno("cannot set times");
  }
}

void LayerApplier::make_symlink(archive_entry* e, int parent, const std::string& name,
                                const std::string& display) {
  const char* target = archive_entry_symlink(e);
  if (target == nullptr || *target == '\0') {
    util::fail(ErrorKind::InvalidInput, "symlink has no target");
  }
  const std::size_t len = std::strlen(target);
  if (len > m_options.max_path_length) {
    util::fail(ErrorKind::InvalidInput, "symlink target is " + std::to_string(len) +
                                            " bytes long, more than the limit of " +
                                            std::to_string(m_options.max_path_length));
  }
  // The target is stored verbatim (an absolute "/bin/foo" is legal in an image): the
  // unpacker never follows a last component, and parents follow links only in-root.
  if (::symlinkat(target, parent, name.c_str()) != 0) {
    if (errno != EEXIST) {
      util::fail_errno("cannot create symlink");
    }
    clear_slot(parent, name, display);
    if (::symlinkat(target, parent, name.c_str()) != 0) {
      util::fail_errno("cannot create symlink");
    }
  }
  mark_created(m_parent_id, name);
  set_owner_at(e, parent, name);
  set_xattrs(e, -1, parent, name);
  set_times_at(e, parent, name);
}

void LayerApplier::make_fifo(archive_entry* e, int parent, const std::string& name,
                             const std::string& display) {
  if (::mkfifoat(parent, name.c_str(), 0600) != 0) {
    if (errno != EEXIST) {
      util::fail_errno("cannot create fifo");
    }
    clear_slot(parent, name, display);
    if (::mkfifoat(parent, name.c_str(), 0600) != 0) {
      util::fail_errno("cannot create fifo");
    }
  }
  mark_created(m_parent_id, name);
  set_owner_at(e, parent, name);
  if (::fchmodat(parent, name.c_str(), permissions(e, false), 0) != 0) {
    util::fail_errno("cannot set mode");
  }
  set_xattrs(e, -1, parent, name);
  set_times_at(e, parent, name);
}

void LayerApplier::make_hardlink(archive_entry* /*e*/, const std::vector<std::string>& target,
                                 int parent, const std::string& name, const std::string& display) {
  const std::string target_display = join_path(target, target.size());
  util::Fd target_dir =
      m_resolver.open_dir(target, target.size() - 1, RootResolver::Symlinks::Reject,
                          RootResolver::Missing::ReturnEmpty);
  struct stat target_st {};
  if (!target_dir ||
      ::fstatat(target_dir.get(), target.back().c_str(), &target_st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (target_dir && errno != ENOENT) {
      util::fail_errno("cannot stat hardlink target " + quote_path(target_display));
    }
    util::fail(ErrorKind::InvalidInput,
               "hardlink target " + quote_path(target_display) +
                   " does not exist (a hardlink may only point to a file of an earlier entry "
                   "or layer)");
  }
  if (!S_ISREG(target_st.st_mode)) {
    util::fail(ErrorKind::InvalidInput,
               "hardlink target " + quote_path(target_display) + " is not a regular file");
  }
  const std::string& target_name = target.back();
  if (::linkat(target_dir.get(), target_name.c_str(), parent, name.c_str(), 0) != 0) {
    if (errno != EEXIST) {
      util::fail_errno("cannot create hardlink to " + quote_path(target_display));
    }
    struct stat st {};
    if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_dev == target_st.st_dev && st.st_ino == target_st.st_ino) {
      mark_created(m_parent_id, name);
      return;  // already that file (e.g. a link to itself)
    }
    clear_slot(parent, name, display);
    if (::linkat(target_dir.get(), target_name.c_str(), parent, name.c_str(), 0) != 0) {
      util::fail_errno("cannot create hardlink to " + quote_path(target_display));
    }
  }
  mark_created(m_parent_id, name);
}

void LayerApplier::finish() {
  invalidate_parent_cache();
  if (m_options.overlay_whiteouts) {
    apply_overlay_markers();  // before directory modes: a read-only directory blocks mknod
  }
  // Children before parents: changing a directory's mode or times never touches its
  // parent, but a read-only parent could block reaching the child for non-root callers.
  for (auto it = m_dirs.rbegin(); it != m_dirs.rend(); ++it) {
    util::Fd parent;
    try {
      parent =
          m_resolver.open_dir(it->parts, it->parts.size() - 1, RootResolver::Symlinks::FollowInRoot,
                              RootResolver::Missing::ReturnEmpty);
    } catch (const util::Error& e) {
      if (e.kind() != ErrorKind::InvalidInput) {
        throw;
      }
      continue;  // a later entry of this layer replaced an ancestor
    }
    if (!parent) {
      continue;
    }
    util::Fd fd(::openat(parent.get(), it->parts.back().c_str(),
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) {
        continue;  // replaced by a later entry of this layer
      }
      util::fail_errno("cannot open directory " +
                       quote_path(join_path(it->parts, it->parts.size())));
    }
    if (::fchmod(fd.get(), it->mode) != 0 ||
        (it->has_times && ::futimens(fd.get(), it->times) != 0)) {
      util::fail_errno("cannot set mode and times of directory " +
                       quote_path(join_path(it->parts, it->parts.size())));
    }
  }
  m_dirs.clear();
}

}  // namespace strata::oci
