// Layers from a directory tree.
//
// The walk is a depth-first traversal that lists one directory at a time, lstat()s every
// child (symlinks are never followed), translates names (overlay whiteouts become ".wh.NAME";
// an opaque directory gains a ".wh..wh..opq" child), sorts the children bytewise by their
// final name and emits them in that order, descending into each directory right after its
// own entry. Since names hold no '/', this pre-order is exactly tar_path_less order (bytewise
// by path, component by component, parents first) without ever holding the whole path list:
// memory is one sorted child list per level of the current path, plus the (dev, inode) ->
// path map of files with more than one link. The first path of such a file in that order
// carries its content; later paths are written as hardlinks to it.
//
// What is kept and what is not:
//  - uid/gid (or 0:0 with keep_owners = false), permission bits incl. setuid/setgid/sticky,
//    mtime clamped to source_date_epoch; no atime/ctime.
//  - extended attributes, sorted by name, except trusted.overlay.* and user.overlay.*
//    (overlayfs bookkeeping, never image content) and security.selinux (a label of the
//    building host: images are labelled where they run, and keeping it would make the bytes
//    depend on the build machine's policy). security.capability and ACLs are kept.
//  - fifos are kept; sockets and device nodes are refused (InvalidInput naming the path),
//    except overlay whiteouts (char 0:0) with overlay_whiteouts = true.
//  - with overlay_whiteouts, directories using overlayfs redirect_dir or metacopy are refused:
//    their content lives in a lower layer, so the upper directory alone is not the layer.
//  - without overlay_whiteouts names are written as they are, ".wh." files included.
//  - a file that shrinks while it is read is an IO error; one that grows is cut at the size
//    lstat() reported.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <unordered_map>

#include "oci/layer_pipeline.hpp"
#include "oci/layer_writer.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

namespace strata::oci {
namespace {

constexpr std::string_view k_opaque_name = ".wh..wh..opq";

enum class Kind { Normal, Whiteout, Opaque };

struct Child {
  std::string name;         // name in the layer
  std::string source_name;  // name on disk (empty for the synthetic opaque marker)
  struct stat st {};
  Kind kind = Kind::Normal;
};

struct DirCloser {
  void operator()(DIR* d) const noexcept { ::closedir(d); }
};

struct Xattrs {
  std::vector<std::pair<std::string, std::string>> kept;
  bool opaque = false;
};

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Reads all extended attributes of `path` (not following symlinks), filtered as the file
// comment says. Returns false (no xattrs) where the filesystem does not support them.
Xattrs read_xattrs(const std::string& path, bool overlay) {
  Xattrs result;
  std::string names;
  for (;;) {
    const ssize_t n = ::llistxattr(path.c_str(), nullptr, 0);
    if (n < 0) {
      if (errno == ENOTSUP) {
        return result;
      }
      util::fail_errno("cannot list extended attributes of " + path);
    }
    if (n == 0) {
      return result;
    }
    names.resize(static_cast<std::size_t>(n));
    const ssize_t m = ::llistxattr(path.c_str(), names.data(), names.size());
    if (m >= 0) {
      names.resize(static_cast<std::size_t>(m));
      break;
    }
    if (errno != ERANGE) {
      util::fail_errno("cannot list extended attributes of " + path);
    }
  }
  std::string value;
  for (std::size_t pos = 0; pos < names.size();) {
    const std::size_t end = names.find('\0', pos);
    const std::string name = names.substr(pos, end - pos);
    pos = end == std::string::npos ? names.size() : end + 1;
    if (name.empty()) {
      continue;
    }
    for (;;) {
      const ssize_t n = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
      if (n < 0) {
        if (errno == ENODATA) {
          break;  // removed since listed
        }
        util::fail_errno("cannot read extended attribute " + name + " of " + path);
      }
      value.resize(static_cast<std::size_t>(n));
      const ssize_t m = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
      if (m >= 0) {
        value.resize(static_cast<std::size_t>(m));
        break;
      }
      if (errno != ERANGE) {
        util::fail_errno("cannot read extended attribute " + name + " of " + path);
      }
    }
    const bool overlay_attr =
        starts_with(name, "trusted.overlay.") || starts_with(name, "user.overlay.");
    if (overlay_attr) {
      const std::string_view key = std::string_view(name).substr(name.find(".overlay.") + 9);
      if (overlay && key == "opaque" && value == "y") {
        result.opaque = true;
      } else if (overlay && (key == "redirect" || key == "metacopy")) {
        util::fail(util::ErrorKind::InvalidInput,
                   path + " carries the overlayfs attribute " + name +
                       ": its content lives in a lower layer; mount the overlay with "
                       "redirect_dir=off,metacopy=off to pack the upper directory as a layer");
      }
      continue;
    }
    if (name == "security.selinux") {
      continue;
    }
    result.kept.emplace_back(name, value);
  }
  std::sort(result.kept.begin(), result.kept.end());
  return result;
}

class DirWalker {
 public:
  DirWalker(std::string root, const LayerOptions& options, detail::LayerPipeline& pipeline)
      : m_root(std::move(root)), m_options(options), m_pipeline(pipeline) {}

  /// Emits everything below the root (the root itself is not an entry).
  void walk_root(std::int64_t root_mtime) {
    const Xattrs x = read_xattrs(m_root, m_options.overlay_whiteouts);
    walk(m_root, "", x.opaque, root_mtime);
  }

 private:
  std::vector<Child> list(const std::string& abs, bool opaque) {
    // The root may be a symlink the caller chose; nothing below it is followed.
    const int nofollow = abs == m_root ? 0 : O_NOFOLLOW;
    util::Fd fd(::open(abs.c_str(), O_RDONLY | O_DIRECTORY | nofollow | O_CLOEXEC));
    if (!fd) {
      util::fail_errno("cannot open directory " + abs);
    }
    std::unique_ptr<DIR, DirCloser> dir(::fdopendir(fd.get()));
    if (!dir) {
      util::fail_errno("cannot read directory " + abs);
    }
    const int dfd = fd.release();  // now owned by `dir`
    std::vector<Child> children;
    for (;;) {
      errno = 0;
      const dirent* de = ::readdir(dir.get());
      if (de == nullptr) {
        if (errno != 0) {
          util::fail_errno("cannot read directory " + abs);
        }
        break;
      }
      const std::string_view name = de->d_name;
      if (name == "." || name == "..") {
        continue;
      }
      Child c;
      c.source_name = name;
      if (::fstatat(dfd, de->d_name, &c.st, AT_SYMLINK_NOFOLLOW) != 0) {
        util::fail_errno("cannot stat " + abs + "/" + c.source_name);
      }
      if (m_options.overlay_whiteouts && S_ISCHR(c.st.st_mode) && c.st.st_rdev == makedev(0, 0)) {
        c.kind = Kind::Whiteout;
        c.name = ".wh." + c.source_name;
      } else {
        c.name = c.source_name;
      }
      children.push_back(std::move(c));
    }
    if (opaque) {
      Child c;
      c.name = k_opaque_name;
      c.kind = Kind::Opaque;
      children.push_back(std::move(c));
    }
    std::sort(children.begin(), children.end(),
              [](const Child& a, const Child& b) { return a.name < b.name; });
    for (std::size_t i = 1; i < children.size(); ++i) {
      if (children[i].name == children[i - 1].name) {
        util::fail(util::ErrorKind::InvalidInput,
                   abs + ": two entries would both be written as '" + children[i].name +
                       "' (an overlay whiteout or opaque marker next to a file of that name)");
      }
    }
    return children;
  }

  TarEntry header(const Child& c, std::string path) const {
    TarEntry h;
    h.path = std::move(path);
    h.mode = static_cast<std::uint32_t>(c.st.st_mode) & 07777U;
    if (m_options.keep_owners) {
      h.uid = c.st.st_uid;
      h.gid = c.st.st_gid;
    }
    h.mtime = detail::clamp_mtime(static_cast<std::int64_t>(c.st.st_mtim.tv_sec), m_options);
    return h;
  }

  void walk(const std::string& abs_dir, const std::string& prefix, bool opaque,
            std::int64_t dir_mtime) {
    const std::vector<Child> children = list(abs_dir, opaque);
    for (const Child& c : children) {
      std::string path = prefix + c.name;
      if (c.kind == Kind::Opaque) {
        TarEntry h;
        h.path = std::move(path);
        h.mode = 0644;
        h.mtime = detail::clamp_mtime(dir_mtime, m_options);
        emit(h);
        continue;
      }
      const std::string abs = abs_dir + "/" + c.source_name;
      const mode_t fmt = c.st.st_mode & S_IFMT;
      if (c.kind == Kind::Whiteout) {
        TarEntry h;
        h.path = std::move(path);
        h.mode = 0644;
        h.mtime = detail::clamp_mtime(static_cast<std::int64_t>(c.st.st_mtim.tv_sec), m_options);
        emit(h);
        continue;
      }
      switch (fmt) {
        case S_IFDIR: {
          Xattrs x = read_xattrs(abs, m_options.overlay_whiteouts);
          TarEntry h = header(c, path);
          h.type = TarType::Directory;
          h.xattrs = std::move(x.kept);
          emit(h);
          walk(abs, path + "/", x.opaque, static_cast<std::int64_t>(c.st.st_mtim.tv_sec));
          break;
        }
        case S_IFREG:
          write_regular(c, abs, std::move(path));
          break;
        case S_IFLNK: {
          TarEntry h = header(c, std::move(path));
          h.type = TarType::Symlink;
          h.link_target = read_link(abs, c.st);
          h.xattrs = read_xattrs(abs, m_options.overlay_whiteouts).kept;
          emit(h);
          break;
        }
        case S_IFIFO: {
          TarEntry h = header(c, std::move(path));
          h.type = TarType::Fifo;
          h.xattrs = read_xattrs(abs, m_options.overlay_whiteouts).kept;
          emit(h);
          break;
        }
        case S_IFCHR:
        case S_IFBLK:
          util::fail(util::ErrorKind::InvalidInput,
                     abs + ": device nodes cannot be part of a layer (" +
                         (fmt == S_IFCHR ? "character" : "block") + " device " +
                         std::to_string(major(c.st.st_rdev)) + ":" +
                         std::to_string(minor(c.st.st_rdev)) + ")" +
                         (c.st.st_rdev == makedev(0, 0)
                              ? "; if this is an overlayfs upper directory, pack it with "
                                "overlay whiteout translation (--overlay-whiteouts)"
                              : "; remove it from the tree"));
        case S_IFSOCK:
          util::fail(util::ErrorKind::InvalidInput,
                     abs + ": sockets cannot be part of a layer; remove it from the tree");
        default:
          util::fail(util::ErrorKind::InvalidInput, abs + ": unsupported file type");
      }
    }
  }

  void write_regular(const Child& c, const std::string& abs, std::string path) {
    if (c.st.st_nlink > 1) {
      const auto key = std::make_pair(static_cast<std::uint64_t>(c.st.st_dev),
                                      static_cast<std::uint64_t>(c.st.st_ino));
      const auto [it, first] = m_links.emplace(key, path);
      if (!first) {
        TarEntry h = header(c, std::move(path));
        h.type = TarType::Hardlink;
        h.link_target = it->second;  // xattrs belong to the inode, written with the file
        emit(h);
        return;
      }
    }
    TarEntry h = header(c, std::move(path));
    h.type = TarType::File;
    h.size = static_cast<std::uint64_t>(c.st.st_size);
    h.xattrs = read_xattrs(abs, m_options.overlay_whiteouts).kept;
    if (h.size == 0) {
      emit(h);
      return;
    }
    util::Fd fd(::open(abs.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
      util::fail_errno("cannot open " + abs);
    }
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    m_pipeline.tar().write_header(h);
    m_pipeline.count_entry();
    util::FileSource source(std::move(fd), abs);
    m_pipeline.tar().copy_content(source, h.size, abs);
  }

  static std::string read_link(const std::string& abs, const struct stat& st) {
    std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
    for (;;) {
      const ssize_t n = ::readlink(abs.c_str(), target.data(), target.size());
      if (n < 0) {
        util::fail_errno("cannot read symlink " + abs);
      }
      if (static_cast<std::size_t>(n) < target.size()) {
        target.resize(static_cast<std::size_t>(n));
        return target;
      }
      target.resize(target.size() * 2);
    }
  }

  void emit(const TarEntry& h) {
    m_pipeline.tar().write_header(h);
    m_pipeline.count_entry();
  }

  struct PairHash {
    std::size_t operator()(const std::pair<std::uint64_t, std::uint64_t>& p) const noexcept {
      return std::hash<std::uint64_t>()(p.first * 0x9E3779B97F4A7C15ULL ^ p.second);
    }
  };

  std::string m_root;
  const LayerOptions& m_options;
  detail::LayerPipeline& m_pipeline;
  std::unordered_map<std::pair<std::uint64_t, std::uint64_t>, std::string, PairHash> m_links;
};

}  // namespace

LayerResult write_layer_from_dir(const std::filesystem::path& root, const LayerOptions& options,
                                 util::Sink& out) {
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0) {
    util::fail_errno("cannot pack " + root.string());
  }
  if (!S_ISDIR(st.st_mode)) {
    util::fail(util::ErrorKind::InvalidInput,
               "cannot pack " + root.string() + ": not a directory");
  }
  detail::LayerPipeline pipeline(options, out);
  std::string base = root.string();
  while (base.size() > 1 && base.ends_with('/')) {
    base.pop_back();
  }
  DirWalker walker(base, options, pipeline);
  walker.walk_root(static_cast<std::int64_t>(st.st_mtim.tv_sec));
  return pipeline.finish();
}

}  // namespace strata::oci
