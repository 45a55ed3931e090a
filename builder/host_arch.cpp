#include "builder/host_arch.hpp"

#include <sys/utsname.h>

#include <cstdlib>
#include <fstream>
#include <map>

namespace strata::builder {
namespace {

// Debian architecture -> the CPU name of its qemu-user emulator and binfmt handler.
const std::map<std::string, std::string>& qemu_names() {
  static const std::map<std::string, std::string> names = {
      {"amd64", "x86_64"},   {"i386", "i386"},       {"arm64", "aarch64"},
      {"armhf", "arm"},      {"armel", "arm"},       {"riscv64", "riscv64"},
      {"ppc64el", "ppc64le"}, {"ppc64", "ppc64"},    {"s390x", "s390x"},
      {"mips64el", "mips64el"}, {"mipsel", "mipsel"}, {"loong64", "loongarch64"}};
  return names;
}

}  // namespace

std::filesystem::path binfmt_misc_dir() {
  const char* env = std::getenv("STRATA_BINFMT_MISC");
  return env != nullptr && *env != '\0' ? std::filesystem::path(env)
                                        : std::filesystem::path("/proc/sys/fs/binfmt_misc");
}

std::string host_debian_arch() {
  struct utsname u {};
  if (::uname(&u) != 0) {
    return {};
  }
  const std::string machine = u.machine;
  static const std::map<std::string, std::string> by_machine = {
      {"x86_64", "amd64"},   {"aarch64", "arm64"},  {"riscv64", "riscv64"},
      {"ppc64le", "ppc64el"}, {"s390x", "s390x"},   {"i686", "i386"},
      {"armv7l", "armhf"},   {"loongarch64", "loong64"}, {"mips64", "mips64el"}};
  const auto it = by_machine.find(machine);
  return it == by_machine.end() ? std::string() : it->second;
}

ArchSupport arch_support(const std::string& arch, const std::filesystem::path& binfmt_dir,
                         const std::string& host_arch) {
  if (arch == "all" || arch == host_arch || (host_arch == "amd64" && arch == "i386")) {
    return {ArchExecution::Native, "native"};
  }
  const auto q = qemu_names().find(arch);
  if (q == qemu_names().end()) {
    return {ArchExecution::Impossible, "no known emulator for the architecture " + arch};
  }
  const std::string handler = "qemu-" + q->second;
  std::ifstream in(binfmt_dir / handler);
  if (!in) {
    return {ArchExecution::Impossible,
            "no binfmt_misc handler " + handler + " in " + binfmt_dir.string() +
                " (install qemu-user-static, or qemu-user-binfmt, to run " + arch +
                " programs on this " + host_arch + " machine)"};
  }
  bool enabled = false;
  std::string flags;
  std::string line;
  while (std::getline(in, line)) {
    if (line == "enabled") {
      enabled = true;
    } else if (line.rfind("flags:", 0) == 0) {
      flags = line.substr(6);
    }
  }
  if (!enabled) {
    return {ArchExecution::Impossible,
            "the binfmt_misc handler " + handler + " is disabled (echo 1 > " +
                (binfmt_dir / handler).string() + ")"};
  }
  if (flags.find('F') == std::string::npos) {
    return {ArchExecution::Impossible,
            "the binfmt_misc handler " + handler +
                " lacks the F (fix-binary) flag, so its interpreter is not reachable inside "
                "the sandbox; qemu-user-static registers it with F"};
  }
  return {ArchExecution::Emulated, handler + " via binfmt_misc"};
}

oci::Platform oci_platform_for(const std::string& arch) {
  static const std::map<std::string, std::pair<std::string, std::string>> platforms = {
      {"amd64", {"amd64", ""}},       {"i386", {"386", ""}},          {"arm64", {"arm64", "v8"}},
      {"armhf", {"arm", "v7"}},       {"armel", {"arm", "v5"}},       {"ppc64el", {"ppc64le", ""}},
      {"s390x", {"s390x", ""}},       {"riscv64", {"riscv64", ""}},   {"mips64el", {"mips64le", ""}},
      {"loong64", {"loong64", ""}}};
  oci::Platform p;
  p.os = "linux";
  const auto it = platforms.find(arch);
  p.architecture = it == platforms.end() ? arch : it->second.first;
  p.variant = it == platforms.end() ? std::string() : it->second.second;
  return p;
}

}  // namespace strata::builder
