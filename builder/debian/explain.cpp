// `strata why PKG`: walking a Resolution's reason edges back to the request.
#include <algorithm>

#include "builder/debian/resolver.hpp"
#include "util/error.hpp"

namespace strata::builder::debian {

const ChosenPackage* Resolution::find(std::string_view name) const {
  std::string_view arch;
  if (const auto colon = name.find(':'); colon != std::string_view::npos) {
    arch = name.substr(colon + 1);
    name = name.substr(0, colon);
  }
  // packages is sorted by (name, architecture).
  auto it = std::lower_bound(packages.begin(), packages.end(), name,
                             [](const ChosenPackage& p, std::string_view n) { return p.name < n; });
  for (; it != packages.end() && it->name == name; ++it) {
    if (arch.empty() || it->architecture == arch) {
      return &*it;
    }
  }
  return nullptr;
}

std::vector<ExplainStep> explain(const Resolution& resolution, std::string_view name) {
  const ChosenPackage* cur = resolution.find(name);
  if (cur == nullptr) {
    util::fail(util::ErrorKind::NotFound,
               "package '" + std::string(name) +
                   "' is not part of this resolution (not needed, or installed by a lower layer)");
  }
  std::vector<ExplainStep> steps;
  while (cur != nullptr) {
    steps.push_back(ExplainStep{cur->name, cur->version, cur->architecture, cur->reason});
    if (cur->reason.parent.empty()) {
      break;
    }
    if (steps.size() > resolution.packages.size()) {
      util::fail(util::ErrorKind::Internal,
                 "the reasons of package '" + std::string(name) + "' form a cycle");
    }
    const std::string parent = cur->reason.parent + ":" + cur->reason.parent_architecture;
    cur = resolution.find(parent);
    if (cur == nullptr) {
      util::fail(util::ErrorKind::Internal,
                 "package " + steps.back().name + " was pulled by " + parent +
                     ", which is missing from the resolution");
    }
  }
  std::reverse(steps.begin(), steps.end());
  return steps;
}

std::string format_explanation(const std::vector<ExplainStep>& steps) {
  std::string out;
  for (const ExplainStep& s : steps) {
    out += s.name + " " + s.version + " (" + s.architecture + "): ";
    switch (s.reason.kind) {
      case ReasonKind::Requested:
        out += "requested as '" + s.reason.relation + "'";
        break;
      case ReasonKind::Priority:
        out += "in the priority set (" + s.reason.relation + ")";
        break;
      default:
        out += std::string(reason_kind_name(s.reason.kind)) + " of " + s.reason.parent + " " +
               s.reason.parent_version + ": " + s.reason.relation;
        break;
    }
    out += '\n';
  }
  return out;
}

std::string_view reason_kind_name(ReasonKind kind) noexcept {
  switch (kind) {
    case ReasonKind::Requested:
      return "requested";
    case ReasonKind::Priority:
      return "priority";
    case ReasonKind::PreDepends:
      return "Pre-Depends";
    case ReasonKind::Depends:
      return "Depends";
    case ReasonKind::Recommends:
      return "Recommends";
  }
  return "unknown";
}

}  // namespace strata::builder::debian
