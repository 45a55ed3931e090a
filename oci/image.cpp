// Platforms and times for the image model. The architecture names are Go's GOARCH values,
// which the image-spec uses: the kernel's `uname -m` names are mapped onto them.
#include "oci/image.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "util/error.hpp"

namespace strata::oci {
namespace {

struct ArchAlias {
  std::string_view name;
  std::string_view arch;
  std::string_view variant;
};

// uname -m and common distribution names -> GOARCH (+ variant).
constexpr ArchAlias k_arch_aliases[] = {
    {"x86_64", "amd64", ""},   {"x86-64", "amd64", ""},  {"amd64", "amd64", ""},
    {"i386", "386", ""},       {"i486", "386", ""},      {"i586", "386", ""},
    {"i686", "386", ""},       {"aarch64", "arm64", "v8"}, {"arm64", "arm64", "v8"},
    {"armv8l", "arm", "v8"},   {"armv7l", "arm", "v7"},  {"armv7", "arm", "v7"},
    {"armhf", "arm", "v7"},    {"armv6l", "arm", "v6"},  {"armel", "arm", "v6"},
    {"armv5tel", "arm", "v5"}, {"ppc64le", "ppc64le", ""}, {"s390x", "s390x", ""},
    {"riscv64", "riscv64", ""}, {"mips64", "mips64", ""}, {"mips64el", "mips64le", ""},
    {"loongarch64", "loong64", ""},
};

const ArchAlias* find_alias(std::string_view name) {
  for (const auto& a : k_arch_aliases) {
    if (a.name == name) {
      return &a;
    }
  }
  return nullptr;
}

bool valid_platform_part(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
}

}  // namespace

Platform Platform::host() {
  struct utsname u {};
  if (::uname(&u) != 0) {
    util::fail_errno("uname");
  }
  Platform p;
  std::string os = u.sysname;
  std::transform(os.begin(), os.end(), os.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  p.os = os;
  const std::string machine = u.machine;
  if (const ArchAlias* a = find_alias(machine)) {
    p.architecture = a->arch;
    p.variant = a->variant;
  } else {
    p.architecture = machine;
  }
  return p;
}

Platform Platform::parse(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto slash = lower.find('/', start);
    parts.push_back(lower.substr(start, slash == std::string::npos ? slash : slash - start));
    if (slash == std::string::npos) {
      break;
    }
    start = slash + 1;
  }
  if (parts.size() < 2 || parts.size() > 3 ||
      !std::all_of(parts.begin(), parts.end(), valid_platform_part)) {
    util::fail(util::ErrorKind::InvalidInput,
               "invalid platform '" + std::string(text) +
                   "': expected OS/ARCH[/VARIANT] such as linux/amd64 or linux/arm64/v8");
  }
  Platform p;
  p.os = parts[0];
  p.architecture = parts[1];
  if (parts.size() == 3) {
    p.variant = parts[2];
  }
  if (const ArchAlias* a = find_alias(p.architecture)) {
    p.architecture = a->arch;
    if (p.variant.empty() && p.architecture == "arm") {
      p.variant = a->variant;  // armhf -> arm/v7; plain arm64 stays without a variant
    }
  }
  return p;
}

std::string Platform::str() const {
  std::string s = os + "/" + architecture;
  if (!variant.empty()) {
    s += "/" + variant;
  }
  return s;
}

std::string format_rfc3339(std::int64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  struct tm tm {};
  if (::gmtime_r(&t, &tm) == nullptr) {
    util::fail(util::ErrorKind::InvalidInput,
               "time " + std::to_string(unix_seconds) + " cannot be represented as a date");
  }
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (n == 0) {
    util::fail(util::ErrorKind::InvalidInput,
               "time " + std::to_string(unix_seconds) + " cannot be formatted as RFC 3339");
  }
  return std::string(buf, n);
}

}  // namespace strata::oci
