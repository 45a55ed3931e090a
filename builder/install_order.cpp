#include "builder/install_order.hpp"

#include <map>
#include <set>

namespace strata::builder {
namespace {

// The packages of `subset` a relation group names (directly or through Provides), first match
// only: the resolver chose one alternative, and any member of the layer satisfies it.
std::vector<std::size_t> satisfiers(const std::vector<std::string>& group,
                                    const std::multimap<std::string, std::size_t>& by_name,
                                    const std::set<std::size_t>& subset) {
  for (const std::string& alt : group) {
    std::vector<std::size_t> found;
    const auto [lo, hi] = by_name.equal_range(alt);
    for (auto it = lo; it != hi; ++it) {
      if (subset.contains(it->second)) {
        found.push_back(it->second);
      }
    }
    if (!found.empty()) {
      return found;
    }
  }
  return {};
}

void groups_of(const std::vector<OrderPackage>& packages,
               const std::multimap<std::string, std::size_t>& by_name,
               const std::vector<std::size_t>& subset_list,
               std::vector<std::vector<std::size_t>>& out) {
  const std::set<std::size_t> subset(subset_list.begin(), subset_list.end());
  // The Pre-Depends targets of the packages that have a preinst.
  std::set<std::size_t> closure;
  std::vector<std::size_t> todo;
  for (std::size_t i : subset_list) {
    if (!packages[i].has_preinst) {
      continue;
    }
    for (const auto& group : packages[i].pre_depends) {
      for (std::size_t t : satisfiers(group, by_name, subset)) {
        if (t != i && closure.insert(t).second) {
          todo.push_back(t);
        }
      }
    }
  }
  // ... and everything they need configured first.
  while (!todo.empty()) {
    const std::size_t i = todo.back();
    todo.pop_back();
    for (const auto* relations : {&packages[i].pre_depends, &packages[i].depends}) {
      for (const auto& group : *relations) {
        for (std::size_t t : satisfiers(group, by_name, subset)) {
          if (closure.insert(t).second) {
            todo.push_back(t);
          }
        }
      }
    }
  }
  if (closure.empty() || closure.size() == subset.size()) {
    out.push_back(subset_list);
    return;
  }
  std::vector<std::size_t> first;
  std::vector<std::size_t> rest;
  for (std::size_t i : subset_list) {
    (closure.contains(i) ? first : rest).push_back(i);
  }
  groups_of(packages, by_name, first, out);
  groups_of(packages, by_name, rest, out);
}

}  // namespace

std::vector<std::vector<std::size_t>> install_groups(const std::vector<OrderPackage>& packages) {
  std::multimap<std::string, std::size_t> by_name;
  std::vector<std::size_t> all;
  for (std::size_t i = 0; i < packages.size(); ++i) {
    by_name.emplace(packages[i].name, i);
    for (const std::string& p : packages[i].provides) {
      by_name.emplace(p, i);
    }
    all.push_back(i);
  }
  std::vector<std::vector<std::size_t>> out;
  if (!all.empty()) {
    groups_of(packages, by_name, all, out);
  }
  return out;
}

}  // namespace strata::builder
