// Splitting big debian layers into parts (see layer_split.hpp).
#include "builder/layer_split.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <numeric>

#include "builder/debian/installer.hpp"
#include "util/error.hpp"

namespace strata::builder {
namespace fs = std::filesystem;

std::vector<LayerPart> split_packages(const LockedLayer& locked, std::uint64_t budget,
                                      std::size_t max_parts) {
  std::uint64_t total = 0;
  for (const auto& p : locked.packages) {
    total += p.size;
  }
  std::size_t n = budget == 0 ? 1 : static_cast<std::size_t>((total + budget - 1) / budget);
  n = std::min({n, std::max<std::size_t>(max_parts, 1), std::max<std::size_t>(locked.packages.size(), 1)});
  if (n <= 1) {
    LayerPart all;
    all.packages.resize(locked.packages.size());
    std::iota(all.packages.begin(), all.packages.end(), 0);
    all.bytes = total;
    return {all};
  }
  std::vector<std::size_t> order(locked.packages.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto& pa = locked.packages[a];
    const auto& pb = locked.packages[b];
    if (pa.size != pb.size) {
      return pa.size > pb.size;
    }
    return std::tie(pa.name, pa.architecture) < std::tie(pb.name, pb.architecture);
  });
  std::vector<LayerPart> parts(n);
  for (std::size_t i : order) {
    auto lightest = std::min_element(parts.begin(), parts.end(), [](const auto& a, const auto& b) {
      return a.bytes < b.bytes;
    });
    lightest->packages.push_back(i);
    lightest->bytes += locked.packages[i].size;
  }
  for (auto& part : parts) {
    std::sort(part.packages.begin(), part.packages.end());
  }
  return parts;
}

namespace {

// "/bin/ls" -> "usr/bin/ls" when /bin is a merged-/usr link in the layer or below it.
class PathMapper {
 public:
  PathMapper(const fs::path& upper, const std::vector<fs::path>& lowers) {
    for (const std::string& dir : debian::merged_usr_dirs()) {
      std::vector<fs::path> look{upper};
      look.insert(look.end(), lowers.begin(), lowers.end());
      for (const fs::path& root : look) {
        struct stat st {};
        if (::lstat((root / dir).c_str(), &st) == 0) {
          if (S_ISLNK(st.st_mode)) {
            std::error_code ec;
            const fs::path target = fs::read_symlink(root / dir, ec);
            if (!ec && target.is_relative()) {
              m_links[dir] = target.lexically_normal().generic_string();
            }
          }
          break;
        }
      }
    }
  }

  [[nodiscard]] std::string physical(std::string path) const {
    while (path.starts_with('/')) {
      path.erase(0, 1);
    }
    const auto slash = path.find('/');
    const std::string first = path.substr(0, slash);
    if (const auto it = m_links.find(first); it != m_links.end() && slash != std::string::npos) {
      return it->second + path.substr(slash);
    }
    return path;
  }

 private:
  std::map<std::string, std::string> m_links;
};

void make_parents(const fs::path& from_root, const fs::path& to_root, const fs::path& rel) {
  fs::path partial;
  const fs::path parent = rel.parent_path();
  for (const auto& component : parent) {
    partial /= component;
    const fs::path target = to_root / partial;
    struct stat st {};
    if (::lstat(target.c_str(), &st) == 0) {
      continue;
    }
    struct stat src {};
    if (::lstat((from_root / partial).c_str(), &src) != 0 || !S_ISDIR(src.st_mode)) {
      util::fail_errno("split layer: parent " + (from_root / partial).string());
    }
    if (::mkdir(target.c_str(), src.st_mode & 07777) != 0) {
      util::fail_errno("split layer: create " + target.string());
    }
    static_cast<void>(::chown(target.c_str(), src.st_uid, src.st_gid));
    ::chmod(target.c_str(), src.st_mode & 07777);
  }
}

fs::path list_file(const fs::path& upper, const LockedPackage& p) {
  const fs::path info = upper / "var/lib/dpkg/info";
  const fs::path plain = info / (p.name + ".list");
  std::error_code ec;
  if (fs::exists(plain, ec)) {
    return plain;
  }
  return info / (p.name + ":" + p.architecture + ".list");
}

}  // namespace

std::vector<fs::path> split_tree(const fs::path& upper, const std::vector<fs::path>& lower_dirs,
                                 const LockedLayer& locked, const std::vector<LayerPart>& parts,
                                 const fs::path& scratch) {
  const PathMapper mapper(upper, lower_dirs);
  std::vector<fs::path> out;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    const fs::path dir = scratch / ("part-" + std::to_string(k + 1));
    fs::create_directories(dir);
    ::chmod(dir.c_str(), 0755);
    for (std::size_t index : parts[k].packages) {
      const LockedPackage& p = locked.packages[index];
      std::ifstream list(list_file(upper, p));
      std::string line;
      while (std::getline(list, line)) {
        if (line.empty() || line == "/.") {
          continue;
        }
        const std::string rel = mapper.physical(line);
        struct stat st {};
        if (rel.empty() || ::lstat((upper / rel).c_str(), &st) != 0 || S_ISDIR(st.st_mode)) {
          continue;  // gone (diverted, removed by a script), or a directory: stays in the rest
        }
        if (S_ISCHR(st.st_mode) && st.st_rdev == 0) {
          continue;  // an overlay whiteout belongs to the rest part
        }
        make_parents(upper, dir, rel);
        if (::rename((upper / rel).c_str(), (dir / rel).c_str()) != 0) {
          util::fail_errno("split layer: move " + rel + " of package " + p.name);
        }
      }
    }
    out.push_back(dir);
  }
  return out;
}

}  // namespace strata::builder
