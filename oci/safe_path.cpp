// In-root path resolution for the layer unpacker.
//
// Policy (layers are hostile; an escape must be impossible):
//
// 1. Entry paths are relative. Absolute paths, ".." components, empty paths and paths
//    longer than the limit are rejected before anything touches the disk. "." and empty
//    components ("./a//b") are dropped. A component starting with ".wh." is reserved for
//    whiteouts and may only be the last one.
// 2. The PARENT directories of an entry are resolved one component at a time, starting at
//    the root directory descriptor. A component that is a real directory is entered. A
//    component that is a symlink (planted by this or an earlier layer) is followed only
//    with in-root semantics and only if it leads to an existing directory inside the root:
//    an absolute target restarts at the root (so an image's "/usr/bin -> /bin" style links
//    work exactly as they would inside the container), a relative target continues from
//    the symlink's directory, and a ".." that would climb above the root is an ERROR (not
//    silently clamped as RESOLVE_IN_ROOT does, so escape attempts are loud). Components
//    coming from a symlink target are never created; at most 40 symlinks are followed.
//    Anything else (a file, a device, a missing target) is an error.
// 3. The LAST component of an entry is never followed: the unpacker replaces whatever is
//    there (unlink, or remove the tree, then create), see unpacker.cpp.
// 4. Hardlink targets are resolved without following any symlink at all.
//
// Fast path: openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS (kernel 5.6+,
// called through syscall()). RESOLVE_BENEATH refuses absolute symlinks and any climb
// above the root (EXDEV), follows relative in-root symlinks, and is race-free. Whenever it
// fails for any reason (missing components to create, an absolute symlink, an error that
// needs a precise message) the component walk below decides, so both paths implement the
// same policy; ENOSYS/EPERM (old kernel, seccomp) switches to the walk for good.
//
// The walk keeps a stack of O_PATH descriptors from the root down to the current
// directory; each step is openat(cur, name, O_PATH|O_DIRECTORY|O_NOFOLLOW), which fails
// with ENOTDIR/ELOOP on a symlink; the symlink's target is then read and its components
// are pushed in front of the remaining ones ("/" empties the stack, ".." pops it and fails
// on an empty stack). Since the stack always holds the physical chain of directories, ".."
// means the physical parent, as in the kernel.
#include "oci/safe_path.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>

#include "util/error.hpp"

namespace strata::oci {

namespace {

constexpr int k_max_symlinks = 40;
constexpr std::string_view k_whiteout_prefix = ".wh.";

}  // namespace

std::string quote_path(std::string_view s) {
  std::string out = "'";
  for (const char c : s.substr(0, 256)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\'' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  if (s.size() > 256) {
    out += "...";
  }
  return out + "'";
}

namespace {

std::string quote(std::string_view s) {
  return quote_path(s);
}

std::string read_link_at(int dir_fd, const std::string& name, const std::string& display) {
  std::string buf(256, '\0');
  for (;;) {
    const ssize_t n = ::readlinkat(dir_fd, name.c_str(), buf.data(), buf.size());
    if (n < 0) {
      util::fail_errno("cannot read symlink " + quote(display));
    }
    if (static_cast<std::size_t>(n) < buf.size()) {
      buf.resize(static_cast<std::size_t>(n));
      return buf;
    }
    buf.resize(buf.size() * 2);
  }
}

long sys_openat2(int dir_fd, const char* path, std::uint64_t flags, std::uint64_t resolve) {
  open_how how{};
  how.flags = flags;
  how.resolve = resolve;
  return ::syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
}

}  // namespace

std::vector<std::string> split_archive_path(std::string_view path, std::size_t max_length,
                                            std::string_view what) {
  const std::string w(what);
  if (path.empty()) {
    util::fail(util::ErrorKind::InvalidInput, w + " is empty");
  }
  if (path.size() > max_length) {
    util::fail(util::ErrorKind::InvalidInput, w + " is " + std::to_string(path.size()) +
                                                  " bytes long, more than the limit of " +
                                                  std::to_string(max_length));
  }
  if (path.find('\0') != std::string_view::npos) {
    util::fail(util::ErrorKind::InvalidInput, w + " contains a NUL byte");
  }
  if (path.front() == '/') {
    util::fail(util::ErrorKind::InvalidInput, w + " is absolute (layers hold relative paths)");
  }
  std::vector<std::string> parts;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    const std::string_view part = path.substr(pos, end - pos);
    if (part == "..") {
      util::fail(util::ErrorKind::InvalidInput, w + " escapes root ('..')");
    }
    if (!part.empty() && part != ".") {
      parts.emplace_back(part);
    }
    pos = end + 1;
  }
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i].starts_with(k_whiteout_prefix)) {
      util::fail(util::ErrorKind::InvalidInput,
                 w + " has a directory named " + quote(parts[i]) + ", a reserved whiteout name");
    }
  }
  return parts;
}

std::string join_path(const std::vector<std::string>& components, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) {
      out += '/';
    }
    out += components[i];
  }
  return out;
}

DirId dir_id(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    util::fail_errno("cannot stat directory");
  }
  return DirId{st.st_dev, st.st_ino};
}

RootResolver::RootResolver(const std::string& root, Method method)
    : m_root(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)), m_root_path(root) {
  if (!m_root) {
    util::fail_errno("cannot open unpack root " + quote(root));
  }
  if (method == Method::Auto) {
    const long fd = sys_openat2(m_root.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC,
                                RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
    if (fd >= 0) {
      ::close(static_cast<int>(fd));
      m_openat2 = true;
    }
  }
}

util::Fd RootResolver::open_dir(const std::vector<std::string>& components, std::size_t count,
                                Symlinks symlinks, Missing missing, const CreatedFn& on_created) {
  if (count == 0) {
    util::Fd fd(::fcntl(m_root.get(), F_DUPFD_CLOEXEC, 0));
    if (!fd) {
      util::fail_errno("cannot duplicate root descriptor");
    }
    return fd;
  }
  if (m_openat2) {
    std::uint64_t resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    if (symlinks == Symlinks::Reject) {
      resolve |= RESOLVE_NO_SYMLINKS;
    }
    const std::string joined = join_path(components, count);
    const long fd =
        sys_openat2(m_root.get(), joined.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC, resolve);
    if (fd >= 0) {
      return util::Fd(static_cast<int>(fd));
    }
    if (errno == ENOSYS || errno == EPERM) {
      m_openat2 = false;
    }
  }
  return walk(components, count, symlinks, missing, on_created);
}

util::Fd RootResolver::walk(const std::vector<std::string>& components, std::size_t count,
                            Symlinks symlinks, Missing missing, const CreatedFn& on_created) {
  struct Step {
    std::string name;
    bool from_entry;  // false: the component comes from a symlink target
  };
  std::deque<Step> todo;
  for (std::size_t i = 0; i < count; ++i) {
    todo.push_back({components[i], true});
  }
  std::vector<util::Fd> stack;
  std::string last_link;  // "'a/b' -> 'target'" of the last symlink followed, for messages
  std::size_t done = 0;   // entry components consumed, for messages
  int hops = 0;
  auto cur = [&] { return stack.empty() ? m_root.get() : stack.back().get(); };
  auto here = [&] { return quote(join_path(components, done)); };

  while (!todo.empty()) {
    Step step = std::move(todo.front());
    todo.pop_front();
    if (step.from_entry) {
      ++done;
    }
    if (step.name.empty() || step.name == ".") {
      continue;
    }
    if (step.name == "..") {
      if (stack.empty()) {
        util::fail(util::ErrorKind::InvalidInput,
                   "symlink " + last_link + " escapes the root (its '..' climbs above it)");
      }
      stack.pop_back();
      continue;
    }
    int fd = ::openat(cur(), step.name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      stack.emplace_back(fd);
      continue;
    }
    const int err = errno;
    if (err == ENOENT) {
      if (!step.from_entry) {
        util::fail(
            util::ErrorKind::InvalidInput,
            "symlink " + last_link + " does not lead to an existing directory inside the root");
      }
      if (missing == Missing::ReturnEmpty) {
        return util::Fd();
      }
      if (missing == Missing::Fail) {
        util::fail(util::ErrorKind::InvalidInput, "directory " + here() + " does not exist");
      }
      if (::mkdirat(cur(), step.name.c_str(), 0755) != 0 && errno != EEXIST) {
        util::fail_errno("cannot create directory " + here());
      }
      if (on_created) {
        on_created(cur(), step.name);
      }
      fd = ::openat(cur(), step.name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) {
        util::fail_errno("cannot open directory " + here());
      }
      stack.emplace_back(fd);
      continue;
    }
    if (err != ENOTDIR && err != ELOOP) {
      util::fail_errno("cannot open directory " + here(), err);
    }
    struct stat st {};
    if (::fstatat(cur(), step.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      util::fail_errno("cannot stat " + here());
    }
    const std::string what =
        step.from_entry ? here() : quote(step.name) + " (via symlink " + last_link + ")";
    if (!S_ISLNK(st.st_mode)) {
      util::fail(util::ErrorKind::InvalidInput, what + " is not a directory");
    }
    if (symlinks == Symlinks::Reject) {
      util::fail(util::ErrorKind::InvalidInput,
                 what + " is a symlink; hardlink targets must be reached without symlinks");
    }
    if (++hops > k_max_symlinks) {
      util::fail(util::ErrorKind::InvalidInput,
                 "too many levels of symlinks at " + what + " (symlink loop?)");
    }
    const std::string target = read_link_at(cur(), step.name, step.name);
    last_link = (step.from_entry ? here() : quote(step.name)) + " -> " + quote(target);
    if (target.empty()) {
      util::fail(util::ErrorKind::InvalidInput, "symlink " + last_link + " has an empty target");
    }
    if (target.front() == '/') {
      stack.clear();
    }
    std::vector<Step> expanded;
    std::size_t pos = 0;
    while (pos <= target.size()) {
      std::size_t end = target.find('/', pos);
      if (end == std::string::npos) {
        end = target.size();
      }
      expanded.push_back({target.substr(pos, end - pos), false});
      pos = end + 1;
    }
    todo.insert(todo.begin(), expanded.begin(), expanded.end());
  }
  if (stack.empty()) {
    return open_dir(components, 0, symlinks, missing, on_created);
  }
  return std::move(stack.back());
}

namespace {

struct DirCloser {
  void operator()(DIR* d) const noexcept { ::closedir(d); }
};

}  // namespace

std::vector<std::string> list_directory(util::Fd fd, const std::string& display) {
  std::unique_ptr<DIR, DirCloser> dir(::fdopendir(fd.get()));
  if (!dir) {
    util::fail_errno("cannot list directory " + quote(display));
  }
  fd.release();  // now owned by `dir`
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = ::readdir(dir.get())) {
    const std::string_view n = e->d_name;
    if (n != "." && n != "..") {
      names.emplace_back(n);
    }
  }
  if (errno != 0) {
    util::fail_errno("cannot list directory " + quote(display));
  }
  return names;
}

void remove_tree_at(int dir_fd, const std::string& name, const std::string& display) {
  if (::unlinkat(dir_fd, name.c_str(), 0) == 0 || errno == ENOENT) {
    return;
  }
  if (errno != EISDIR && errno != EPERM) {
    util::fail_errno("cannot remove " + quote(display));
  }
  int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == EACCES) {
    ::fchmodat(dir_fd, name.c_str(), 0700, 0);
    fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0) {
    util::fail_errno("cannot open directory " + quote(display) + " to remove it");
  }
  util::Fd listing(fd);
  util::Fd child(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!child) {
    util::fail_errno("cannot duplicate descriptor");
  }
  ::fchmod(child.get(), 0700);  // unlinking inside needs write permission when unprivileged
  for (const std::string& n : list_directory(std::move(listing), display)) {
    remove_tree_at(child.get(), n, display + "/" + n);
  }
  child.reset();
  if (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    util::fail_errno("cannot remove directory " + quote(display));
  }
}

}  // namespace strata::oci
