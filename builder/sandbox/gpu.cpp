// Discovery of the host's NVIDIA driver for `strata run --gpus` (see gpu.hpp for the why).
//
// Libraries: for every library name of the compute and utility sets (the sets the NVIDIA
// container toolkit injects for NVIDIA_DRIVER_CAPABILITIES=compute,utility), the first
// candidate directory holding any `NAME`, `NAME.*` decides; every such entry there is taken:
// a regular file is bound by its own name, a symbolic link is recreated as a link to its
// resolved file's name (and that file bound too, wherever the link pointed). A library file
// whose ELF soname (libnvidia-ml.so.1) is not beside it gets that link, as ldconfig would.
#include "builder/sandbox/gpu.hpp"

#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "util/error.hpp"

namespace strata::builder::sandbox {
namespace fs = std::filesystem;
namespace {

// The driver's user-space libraries strata injects (compute + utility capabilities).
constexpr const char* k_libraries[] = {
    "libcuda.so",          "libcudadebugger.so",      "libnvidia-ml.so",
    "libnvidia-cfg.so",    "libnvidia-ptxjitcompiler.so", "libnvidia-nvvm.so",
    "libnvidia-gpucomp.so", "libnvidia-allocator.so", "libnvidia-opencl.so",
    "libnvidia-compiler.so", "libnvidia-fatbinaryloader.so", "libnvidia-pkcs11.so",
    "libnvidia-pkcs11-openssl3.so"};

constexpr const char* k_binaries[] = {"nvidia-smi", "nvidia-debugdump", "nvidia-persistenced",
                                      "nvidia-cuda-mps-control", "nvidia-cuda-mps-server"};

#if defined(__x86_64__)
constexpr const char* k_multiarch = "x86_64-linux-gnu";
constexpr const char* k_ldconfig_abi = "x86-64";
#elif defined(__aarch64__)
constexpr const char* k_multiarch = "aarch64-linux-gnu";
constexpr const char* k_ldconfig_abi = "AArch64";
#else
constexpr const char* k_multiarch = "";
constexpr const char* k_ldconfig_abi = "";
#endif

bool is_char_device(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISCHR(st.st_mode);
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(sep, start), text.size());
    if (end > start) {
      out.push_back(text.substr(start, end - start));
    }
    start = end + 1;
  }
  return out;
}

// Directories of the dynamic linker's cache entries for our libraries (`ldconfig -p`).
std::vector<fs::path> ldconfig_dirs() {
  std::vector<fs::path> out;
  for (const char* tool : {"/sbin/ldconfig", "/usr/sbin/ldconfig"}) {
    if (::access(tool, X_OK) != 0) {
      continue;
    }
    const std::string command = std::string(tool) + " -p 2>/dev/null";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
    if (!pipe) {
      return out;
    }
    char line[4096];
    while (std::fgets(line, sizeof line, pipe.get()) != nullptr) {
      const std::string text(line);
      const auto arrow = text.find(" => ");
      if (arrow == std::string::npos || text.find(k_ldconfig_abi) == std::string::npos) {
        continue;
      }
      std::string path = text.substr(arrow + 4);
      while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) {
        path.pop_back();
      }
      const std::string name = fs::path(path).filename().string();
      for (const char* lib : k_libraries) {
        if (name.rfind(lib, 0) == 0) {
          out.push_back(fs::path(path).parent_path());
          break;
        }
      }
    }
    break;
  }
  return out;
}

std::vector<fs::path> library_dirs(const fs::path& root) {
  std::vector<fs::path> dirs;
  const bool host = fs::path(root).lexically_normal() == "/";
  if (host) {
    if (const char* ld = std::getenv("LD_LIBRARY_PATH"); ld != nullptr) {
      for (const std::string& d : split(ld, ':')) {
        dirs.emplace_back(d);
      }
    }
  }
  for (const std::string& rel :
       {std::string("usr/local/nvidia/lib64"), std::string("usr/local/nvidia/lib"),
        "usr/lib/" + std::string(k_multiarch), std::string("usr/lib64"),
        "lib/" + std::string(k_multiarch), std::string("lib64"), std::string("usr/lib")}) {
    dirs.push_back(root / rel);
  }
  if (host) {
    for (const fs::path& d : ldconfig_dirs()) {
      dirs.push_back(d);
    }
  }
  return dirs;
}

bool matches(const std::string& name, const std::string& base) {
  return name == base || (name.size() > base.size() && name.rfind(base + ".", 0) == 0);
}

// Adds every entry of `dir` that belongs to library `base` to `out`.
void collect_library(const fs::path& dir, const std::string& base, GpuInjection& out,
                     std::set<std::string>& names) {
  std::vector<fs::directory_entry> entries;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (matches(e.path().filename().string(), base)) {
      entries.push_back(e);
    }
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path() < b.path(); });
  auto add_file = [&](const fs::path& host) {
    const std::string name = host.filename().string();
    if (names.insert(name).second) {
      out.libraries.push_back({host, name});
    }
  };
  for (const fs::directory_entry& e : entries) {
    const std::string name = e.path().filename().string();
    if (e.is_symlink(ec)) {
      const fs::path resolved = fs::canonical(e.path(), ec);
      if (ec || !fs::is_regular_file(resolved, ec)) {
        continue;  // a dangling link (e.g. a -dev link without its library): leave it out
      }
      add_file(resolved);
      if (resolved.filename().string() != name && names.insert(name).second) {
        out.library_links.push_back({name, resolved.filename().string()});
      }
    } else if (e.is_regular_file(ec)) {
      add_file(e.path());
    }
  }
}

// The DT_SONAME of a 64-bit ELF shared library (through its section headers), or "".
std::string elf_soname(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  Elf64_Ehdr eh{};
  if (!in.read(reinterpret_cast<char*>(&eh), sizeof eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum > 4096) {
    return {};
  }
  std::vector<Elf64_Shdr> sections(eh.e_shnum);
  in.seekg(static_cast<std::streamoff>(eh.e_shoff));
  if (!in.read(reinterpret_cast<char*>(sections.data()),
               static_cast<std::streamsize>(sections.size() * sizeof(Elf64_Shdr)))) {
    return {};
  }
  for (const Elf64_Shdr& sh : sections) {
    if (sh.sh_type != SHT_DYNAMIC || sh.sh_link >= sections.size() || sh.sh_size > (1U << 20)) {
      continue;
    }
    std::vector<Elf64_Dyn> dyn(sh.sh_size / sizeof(Elf64_Dyn));
    in.seekg(static_cast<std::streamoff>(sh.sh_offset));
    if (!in.read(reinterpret_cast<char*>(dyn.data()),
                 static_cast<std::streamsize>(dyn.size() * sizeof(Elf64_Dyn)))) {
      return {};
    }
    const Elf64_Shdr& strtab = sections[sh.sh_link];
    for (const Elf64_Dyn& d : dyn) {
      if (d.d_tag == DT_SONAME && d.d_un.d_val < strtab.sh_size) {
        in.seekg(static_cast<std::streamoff>(strtab.sh_offset + d.d_un.d_val));
        std::string name;
        std::getline(in, name, '\0');
        return name.size() < 256 ? name : std::string();
      }
    }
  }
  return {};
}

// A library file whose soname (DT_SONAME) has no entry beside it gets that link, as
// ldconfig would make it.
void add_soname_links(GpuInjection& out) {
  std::set<std::string> names;
  for (const GpuFile& f : out.libraries) names.insert(f.name);
  for (const GpuLink& l : out.library_links) names.insert(l.name);
  const std::vector<GpuFile> files = out.libraries;
  for (const GpuFile& f : files) {
    const std::string soname = elf_soname(f.host);
    if (!soname.empty() && soname.find('/') == std::string::npos && names.insert(soname).second) {
      out.library_links.push_back({soname, f.name});
    }
  }
}

std::string indices_text(const std::vector<unsigned>& indices) {
  std::string out;
  for (unsigned i : indices) {
    out += (out.empty() ? "" : ",") + std::to_string(i);
  }
  return out;
}

}  // namespace

GpuRequest parse_gpu_request(const std::string& text) {
  std::string value = text;
  if (value.rfind("device=", 0) == 0) {
    value = value.substr(7);
  }
  GpuRequest request;
  if (value == "all") {
    request.all = true;
    return request;
  }
  for (const std::string& part : split(value, ',')) {
    if (part.empty() || part.size() > 4 ||
        part.find_first_not_of("0123456789") != std::string::npos) {
      util::fail(util::ErrorKind::InvalidInput,
                 "--gpus " + text + ": expected \"all\" or GPU indices such as \"0\" or \"0,2\"");
    }
    const auto index = static_cast<unsigned>(std::stoul(part));
    if (std::find(request.indices.begin(), request.indices.end(), index) == request.indices.end()) {
      request.indices.push_back(index);
    }
  }
  if (request.indices.empty()) {
    util::fail(util::ErrorKind::InvalidInput,
               "--gpus " + text + ": expected \"all\" or GPU indices such as \"0\" or \"0,2\"");
  }
  return request;
}

GpuInjection discover_gpus(const GpuRequest& request, const fs::path& root) {
  GpuInjection out;
  const fs::path dev = root / "dev";
  if (!is_char_device(dev / "nvidiactl")) {
    util::fail(util::ErrorKind::NotFound,
               "--gpus: no NVIDIA driver on this machine: " + (dev / "nvidiactl").string() +
                   " is not a character device (is the nvidia kernel module loaded? "
                   "`nvidia-smi` on the host should list the GPUs)");
  }
  std::map<unsigned, fs::path> gpus;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dev, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 6 && name.size() <= 10 && name.rfind("nvidia", 0) == 0 &&
        name.find_first_not_of("0123456789", 6) == std::string::npos && is_char_device(e.path())) {
      gpus[static_cast<unsigned>(std::stoul(name.substr(6)))] = e.path();
    }
  }
  std::vector<unsigned> present;
  for (const auto& [index, path] : gpus) present.push_back(index);
  if (request.all) {
    if (gpus.empty()) {
      util::fail(util::ErrorKind::NotFound,
                 "--gpus all: the driver is loaded but " + dev.string() +
                     " has no GPU device node (nvidia0, nvidia1, ...)");
    }
    for (const auto& [index, path] : gpus) out.devices.push_back(path);
  } else {
    for (unsigned index : request.indices) {
      const auto found = gpus.find(index);
      if (found == gpus.end()) {
        util::fail(util::ErrorKind::NotFound,
                   "--gpus: GPU " + std::to_string(index) + " does not exist: no " +
                       (dev / ("nvidia" + std::to_string(index))).string() +
                       " (this machine has: " + (present.empty() ? "none" : indices_text(present)) +
                       ")");
      }
      out.devices.push_back(found->second);
    }
  }
  for (const char* control : {"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"}) {
    if (is_char_device(dev / control)) {
      out.devices.push_back(dev / control);
    }
  }
  if (fs::is_directory(dev / "nvidia-caps", ec)) {
    out.device_dirs.push_back(dev / "nvidia-caps");
  }

  const std::vector<fs::path> dirs = library_dirs(root);
  std::set<std::string> names;
  for (const char* lib : k_libraries) {
    for (const fs::path& dir : dirs) {
      const std::size_t before = out.libraries.size() + out.library_links.size();
      if (fs::is_directory(dir, ec)) {
        collect_library(dir, lib, out, names);
      }
      if (out.libraries.size() + out.library_links.size() != before) {
        break;  // the first directory that has the library decides
      }
    }
  }
  add_soname_links(out);
  const bool has_libcuda =
      std::any_of(out.libraries.begin(), out.libraries.end(),
                  [](const GpuFile& f) { return f.name == "libcuda.so.1"; }) ||
      std::any_of(out.library_links.begin(), out.library_links.end(),
                  [](const GpuLink& l) { return l.name == "libcuda.so.1"; });
  if (!has_libcuda) {
    std::string searched;
    for (const fs::path& d : dirs) searched += "\n  " + d.string();
    util::fail(util::ErrorKind::NotFound,
               "--gpus: the NVIDIA kernel driver is loaded but its user-space library "
               "libcuda.so.1 was not found in:" + searched +
                   "\ninstall the driver's libraries (Debian: libcuda1 or nvidia-driver; they must "
                   "match the kernel module) or give --gpu-driver-root");
  }
  for (const GpuFile& f : out.libraries) {
    if (f.name.rfind("libcuda.so.", 0) == 0 && f.name.size() > 11 &&
        std::count(f.name.begin(), f.name.end(), '.') >= 3) {
      out.driver_version = f.name.substr(11);
    }
  }

  const bool host = root.lexically_normal() == "/";
  std::vector<fs::path> bin_dirs = {root / "usr/local/nvidia/bin", root / "usr/bin",
                                    root / "usr/sbin"};
  if (host) {
    if (const char* path = std::getenv("PATH"); path != nullptr) {
      for (const std::string& d : split(path, ':')) bin_dirs.emplace_back(d);
    }
  }
  for (const char* bin : k_binaries) {
    for (const fs::path& dir : bin_dirs) {
      const fs::path candidate = dir / bin;
      if (::access(candidate.c_str(), X_OK) == 0 && fs::is_regular_file(candidate, ec)) {
        out.binaries.push_back({fs::canonical(candidate, ec), bin});
        break;
      }
    }
  }
  return out;
}

std::vector<std::string> gpu_environment(std::vector<std::string> env, const GpuRequest& request) {
  // Appended piece by piece: GCC 12 at -O2 warns falsely (array-bounds) on `":" + string`.
  std::string lib(k_gpu_mount_point);
  lib.append("/lib64");
  std::string bin(k_gpu_mount_point);
  bin.append("/bin");
  bool has_path = false;
  bool has_ld = false;
  for (std::string& e : env) {
    if (e.rfind("PATH=", 0) == 0) {
      has_path = true;
      e.append(":").append(bin);
    } else if (e.rfind("LD_LIBRARY_PATH=", 0) == 0) {
      has_ld = true;
      const std::string old = e.substr(16);
      e = "LD_LIBRARY_PATH=";
      e.append(lib);
      if (!old.empty()) {
        e.append(":").append(old);
      }
    }
  }
  if (!has_path) {
    env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:");
    env.back().append(bin);
  }
  if (!has_ld) {
    env.push_back("LD_LIBRARY_PATH=");
    env.back().append(lib);
  }
  std::erase_if(env, [](const std::string& e) { return e.rfind("NVIDIA_VISIBLE_DEVICES=", 0) == 0; });
  env.push_back("NVIDIA_VISIBLE_DEVICES=");
  env.back().append(request.all ? std::string("all") : indices_text(request.indices));
  return env;
}

}  // namespace strata::builder::sandbox
