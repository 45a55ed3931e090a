#include "builder/debian/universe.hpp"

#include <algorithm>

#include "util/error.hpp"

namespace strata::builder::debian {

Universe::Universe(std::vector<Package> packages) {
  NameMap<std::size_t> first_archive;  // key -> index in m_packages, for duplicate reports
  m_packages.reserve(packages.size());
  m_versions.reserve(packages.size());
  for (Package& p : packages) {
    std::string key = p.name;
    key += '\0';
    key += p.version;
    key += '\0';
    key += p.architecture;
    if (auto it = first_archive.find(key); it != first_archive.end()) {
      m_duplicates.push_back(DuplicatePackage{p.name, p.version, p.architecture,
                                              m_packages[it->second].archive, p.archive});
      continue;
    }
    try {
      m_versions.push_back(Version::parse(p.version));
    } catch (const util::Error& e) {
      util::fail(util::ErrorKind::InvalidInput,
                 "package " + p.name + " (" + p.architecture + ") from " +
                     (p.archive.empty() ? std::string("an unnamed archive") : p.archive) +
                     ": " + e.what());
    }
    first_archive.emplace(std::move(key), m_packages.size());
    m_packages.push_back(std::move(p));
  }

  for (PackageId id = 0; id < m_packages.size(); ++id) {
    m_by_name[m_packages[id].name].push_back(id);
    const auto& provides = m_packages[id].provides;
    for (std::uint32_t g = 0; g < provides.size(); ++g) {
      if (!provides[g].empty()) {
        m_providers[provides[g].front().name].push_back(Provider{id, g});
      }
    }
  }

  // Newest first, then architecture; the id (input order) only separates versions that
  // dpkg considers equal but are spelled differently ("1.0" and "0:1.0").
  const auto newer = [this](PackageId a, PackageId b) {
    if (const int c = compare_versions(m_versions[a], m_versions[b]); c != 0) {
      return c > 0;
    }
    if (const int c = m_packages[a].architecture.compare(m_packages[b].architecture); c != 0) {
      return c < 0;
    }
    return a < b;
  };
  m_names.reserve(m_by_name.size());
  for (auto& [name, ids] : m_by_name) {
    std::sort(ids.begin(), ids.end(), newer);
    m_names.push_back(name);
  }
  std::sort(m_names.begin(), m_names.end());
  for (auto& entry : m_providers) {
    auto& list = entry.second;
    std::sort(list.begin(), list.end(), [&](const Provider& a, const Provider& b) {
      if (a.id == b.id) {
        return a.group < b.group;
      }
      if (const int c = m_packages[a.id].name.compare(m_packages[b.id].name); c != 0) {
        return c < 0;
      }
      return newer(a.id, b.id);
    });
  }
}

std::span<const PackageId> Universe::versions_of(std::string_view name) const {
  if (auto it = m_by_name.find(name); it != m_by_name.end()) {
    return it->second;
  }
  return {};
}

std::span<const Provider> Universe::providers_of(std::string_view name) const {
  if (auto it = m_providers.find(name); it != m_providers.end()) {
    return it->second;
  }
  return {};
}

}  // namespace strata::builder::debian
