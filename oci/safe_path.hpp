// In-root path handling for the layer unpacker: validation of archive paths and a
// directory resolver that can never leave its root. See safe_path.cpp for the policy.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "util/fd.hpp"

namespace strata::oci {

/// Splits an archive path ("./usr//bin/", "etc/passwd") into its components, dropping
/// empty and "." components. Throws InvalidInput (message without the entry name; the
/// caller adds it) when the path is empty, absolute, longer than `max_length`, contains a
/// ".." component, or a component that is a reserved whiteout name (".wh.*") anywhere
/// but in the last position. `what` names the path in messages ("path", "hardlink target").
/// An empty result means the path names the root itself ("." or "./"). Thread-safe.
std::vector<std::string> split_archive_path(std::string_view path, std::size_t max_length,
                                            std::string_view what = "path");

/// Quotes an untrusted path for an error message: '...' with control bytes, quotes and
/// backslashes escaped as \xNN and anything past 256 bytes cut to "...". Thread-safe.
std::string quote_path(std::string_view path);

/// Joins components with '/' (for messages and cache keys). Thread-safe.
std::string join_path(const std::vector<std::string>& components, std::size_t count);

/// Identity of a directory: device and inode. Value type.
struct DirId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const DirId&) const = default;
};

/// DirId of an open directory descriptor; throws IO.
DirId dir_id(int fd);

/// Resolves directories below a root directory without ever leaving it.
/// Not thread-safe; owns the root descriptor.
class RootResolver {
 public:
  /// How directories are resolved: openat2(2) with a component walk as fallback, or the
  /// walk only (old kernels, seccomp filters that refuse openat2, and tests).
  enum class Method { Auto, WalkOnly };
  /// What to do with a missing entry-path component.
  enum class Missing { Create, Fail, ReturnEmpty };
  /// Whether symlinks among the components may be followed (in-root) or are an error.
  enum class Symlinks { FollowInRoot, Reject };

  /// Called for each directory the resolver creates: parent fd and name.
  using CreatedFn = std::function<void(int parent_fd, const std::string& name)>;

  /// Opens `root` (which must be a directory). Throws NotFound/IO naming it.
  RootResolver(const std::string& root, Method method);

  [[nodiscard]] int root_fd() const noexcept { return m_root.get(); }
  [[nodiscard]] const std::string& root_path() const noexcept { return m_root_path; }
  /// True when openat2 is in use (false after a fallback or with WalkOnly).
  [[nodiscard]] bool using_openat2() const noexcept { return m_openat2; }

  /// Opens the directory named by components[0, count) as an O_PATH descriptor.
  /// Symlinks are handled as `symlinks` says; missing components as `missing` says
  /// (directories created with mode 0755 and reported to `on_created`; components that
  /// come from a symlink's target are never created). With Missing::ReturnEmpty a
  /// missing component gives an invalid Fd. Throws InvalidInput saying which component
  /// is wrong, IO when the system refuses.
  util::Fd open_dir(const std::vector<std::string>& components, std::size_t count,
                    Symlinks symlinks, Missing missing, const CreatedFn& on_created = {});

 private:
  util::Fd walk(const std::vector<std::string>& components, std::size_t count, Symlinks symlinks,
                Missing missing, const CreatedFn& on_created);

  util::Fd m_root;
  std::string m_root_path;
  bool m_openat2 = false;
};

/// Names in the directory open as `fd` (which it adopts and closes), without "." and
/// "..". Throws IO naming `display`.
std::vector<std::string> list_directory(util::Fd fd, const std::string& display);

/// Removes `name` in `dir_fd` and, if it is a directory, everything below it, never
/// following symlinks; read-only directories are made writable first. A missing name is
/// not an error. Throws IO naming `display` on failure. Not thread-safe for the same tree.
void remove_tree_at(int dir_fd, const std::string& name, const std::string& display);

}  // namespace strata::oci
