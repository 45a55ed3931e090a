#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "cache/store.hpp"
#include "registry/server/server.hpp"

namespace strata::registry {

std::filesystem::path default_registry_root() {
  if (const char* home = std::getenv("STRATA_HOME"); home != nullptr && *home != '\0') {
    return std::filesystem::path(home) / "registry";
  }
  if (::geteuid() == 0) {
    return "/var/lib/strata/registry";
  }
  return cache::Store::default_root() / "registry";
}

}  // namespace strata::registry
