#include "builder/sandbox/mount_points.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <set>

#include "util/error.hpp"

namespace strata::builder::sandbox::detail {
namespace fs = std::filesystem;
namespace {

// What a relative path is in the union of the lower dirs.
struct Lookup {
  enum class State { Found, Absent, Blocked } state = State::Absent;
  struct stat st {};
  std::size_t first_missing = 0;  // Absent: index of the first component that is missing
};

std::vector<std::string> components(const std::string& rel) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= rel.size()) {
    const std::size_t end = std::min(rel.find('/', start), rel.size());
    if (end > start) {
      out.push_back(rel.substr(start, end - start));
    }
    start = end + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    out += (i == 0 ? "" : "/") + parts[i];
  }
  return out;
}

// Resolves `rel` the way overlayfs merges directories, without following symlinks: for each
// component the topmost lower that has it decides; a directory there merges with the same
// directory in the lowers below it, down to the first lower where the name is not a directory.
Lookup lookup(const std::vector<fs::path>& lowers, const std::string& rel) {
  const std::vector<std::string> parts = components(rel);
  std::vector<bool> active(lowers.size(), true);
  Lookup result;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string prefix = join(parts, i + 1);
    bool found = false;
    bool stop = false;
    for (std::size_t l = 0; l < lowers.size(); ++l) {
      if (!active[l] || stop) {
        active[l] = false;
        continue;
      }
      struct stat st {};
      if (::lstat((lowers[l] / prefix).c_str(), &st) != 0) {
        active[l] = false;
        continue;
      }
      if (!found) {
        found = true;
        result.st = st;
      }
      if (!S_ISDIR(st.st_mode)) {
        active[l] = false;
        stop = true;  // a non-directory hides everything below it
      }
    }
    if (!found) {
      result.state = Lookup::State::Absent;
      result.first_missing = i;
      return result;
    }
    if (i + 1 < parts.size() && !S_ISDIR(result.st.st_mode)) {
      result.state = Lookup::State::Blocked;
      return result;
    }
  }
  result.state = Lookup::State::Found;
  return result;
}

// The GPU part of the plan: device nodes under /dev, driver files under /usr/local/nvidia.
void plan_gpu(const GpuInjection& gpu, const fs::path& merged, ChildPlan& plan) {
  for (const fs::path& device : gpu.devices) {
    plan.dev_binds.push_back({device.string(), (merged / "dev" / device.filename()).string(),
                              false, true, false});
  }
  for (const fs::path& dir : gpu.device_dirs) {
    plan.dev_binds.push_back({dir.string(), (merged / "dev" / dir.filename()).string(), false,
                              false, true});
  }
  const fs::path root = merged / std::string(k_gpu_mount_point).substr(1);
  plan.gpu_dir = root.string();
  plan.gpu_subdirs = {(root / "lib64").string(), (root / "bin").string()};
  for (const GpuFile& f : gpu.libraries) {
    plan.gpu_binds.push_back({f.host.string(), (root / "lib64" / f.name).string(), true, true, false});
  }
  for (const GpuLink& l : gpu.library_links) {
    plan.gpu_links.push_back({l.target, (root / "lib64" / l.name).string()});
  }
  for (const GpuFile& f : gpu.binaries) {
    plan.gpu_binds.push_back({f.host.string(), (root / "bin" / f.name).string(), true, true, false});
  }
}

}  // namespace

std::vector<std::string> plan_mount_points(const std::vector<fs::path>& lowers, bool network,
                                           ChildPlan& plan, const GpuInjection& gpu) {
  std::vector<std::string> created;
  const fs::path merged = plan.merged;
  // Returns false when the path cannot be used (optional targets are then skipped).
  auto want = [&](const std::string& rel, bool directory, bool required) {
    const Lookup found = lookup(lowers, rel);
    if (found.state == Lookup::State::Found) {
      const bool ok = directory ? S_ISDIR(found.st.st_mode) : S_ISREG(found.st.st_mode);
      if (!ok && required) {
        util::fail(util::ErrorKind::InvalidInput,
                   "the rootfs has /" + rel +
                       " as something other than a directory; the sandbox mounts a filesystem "
                       "there: make it a directory in the image");
      }
      return ok;
    }
    if (found.state == Lookup::State::Blocked) {
      if (required) {
        util::fail(util::ErrorKind::InvalidInput,
                   "a parent of /" + rel + " in the rootfs is not a directory");
      }
      return false;
    }
    const std::vector<std::string> parts = components(rel);
    for (std::size_t i = found.first_missing; i < parts.size(); ++i) {
      const std::string prefix = join(parts, i + 1);
      const bool is_dir = directory || i + 1 < parts.size();
      plan.create.push_back({(merged / prefix).string(), is_dir});
      created.push_back(prefix);
    }
    return true;
  };
  want("proc", true, true);
  want("dev", true, true);
  want("tmp", true, true);
  plan.proc = (merged / "proc").string();
  plan.dev = (merged / "dev").string();
  plan.tmp = (merged / "tmp").string();
  plan.dev_pts = (merged / "dev/pts").string();
  plan.dev_shm = (merged / "dev/shm").string();
  plan.sys = want("sys", true, false) ? (merged / "sys").string() : std::string();

  for (const char* name : {"null", "zero", "full", "random", "urandom", "tty"}) {
    const std::string host = std::string("/dev/") + name;
    if (::access(host.c_str(), F_OK) == 0) {
      plan.dev_binds.push_back({host, (merged / "dev" / name).string(), false, true});
    }
  }
  const std::pair<const char*, const char*> links[] = {
      {"/proc/self/fd", "fd"},         {"/proc/self/fd/0", "stdin"},
      {"/proc/self/fd/1", "stdout"},   {"/proc/self/fd/2", "stderr"},
      {"pts/ptmx", "ptmx"}};
  for (const auto& [target, name] : links) {
    plan.dev_links.push_back({target, (merged / "dev" / name).string()});
  }
  if (!gpu.empty()) {
    plan_gpu(gpu, merged, plan);
    want(std::string(k_gpu_mount_point).substr(1), true, true);
  }
  if (network) {
    for (const char* rel : {"etc/resolv.conf", "etc/hosts"}) {
      const std::string host = std::string("/") + rel;
      struct stat st {};
      if (::stat(host.c_str(), &st) == 0 && S_ISREG(st.st_mode) && want(rel, false, false)) {
        plan.etc_binds.push_back({host, (merged / rel).string(), true, false});
      }
    }
  }
  return created;
}

void remove_mount_points(const fs::path& upper, const std::vector<fs::path>& lowers,
                         const std::vector<std::string>& created) noexcept {
  try {
    const std::set<std::string> ours(created.begin(), created.end());
    std::set<std::string> parents;
    for (auto it = created.rbegin(); it != created.rend(); ++it) {
      const fs::path p = upper / *it;
      struct stat st {};
      if (::lstat(p.c_str(), &st) != 0) {
        continue;
      }
      if (S_ISDIR(st.st_mode)) {
        static_cast<void>(::rmdir(p.c_str()));  // fails, as it should, when not empty
      } else if (S_ISREG(st.st_mode) && st.st_size == 0) {
        static_cast<void>(::unlink(p.c_str()));
      }
      const std::size_t slash = it->rfind('/');
      if (slash != std::string::npos && ours.count(it->substr(0, slash)) == 0) {
        parents.insert(it->substr(0, slash));
      }
    }
    // Deepest first: std::set orders "etc" before "etc/x".
    for (auto it = parents.rbegin(); it != parents.rend(); ++it) {
      std::string rel = *it;
      for (;;) {
        const fs::path p = upper / rel;
        struct stat st {};
        const Lookup lower = lookup(lowers, rel);
        if (::lstat(p.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || !fs::is_empty(p) ||
            lower.state != Lookup::State::Found || !S_ISDIR(lower.st.st_mode) ||
            lower.st.st_mode != st.st_mode || lower.st.st_uid != st.st_uid ||
            lower.st.st_gid != st.st_gid) {
          break;
        }
        static_cast<void>(::rmdir(p.c_str()));
        const std::size_t slash = rel.rfind('/');
        if (slash == std::string::npos) {
          break;
        }
        rel.resize(slash);
      }
    }
  } catch (...) {
    // Best effort: a leftover empty mount point is harmless.
  }
}

}  // namespace strata::builder::sandbox::detail
