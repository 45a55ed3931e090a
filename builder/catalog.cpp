// Listing the catalog and its templates (see catalog.hpp).
#include "builder/catalog.hpp"

#include <algorithm>
#include <map>

#include "builder/recipe.hpp"
#include "util/error.hpp"

namespace strata::builder {
namespace fs = std::filesystem;

bool valid_catalog_name(std::string_view name) {
  return !name.empty() && name.size() <= 200 && name.front() != '/' && name.back() != '/' &&
         name.find("..") == std::string_view::npos && name.find("//") == std::string_view::npos &&
         name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-/") ==
             std::string_view::npos;
}

namespace {

// Adds DIR's *.toml files (recursively, `sub` = "" for the catalog, "templates" for the
// templates) to `found` unless a name is already there (an earlier directory wins).
void scan(const fs::path& dir, std::string_view sub, std::map<std::string, CatalogEntry>& found) {
  const fs::path root = sub.empty() ? dir : dir / sub;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return;
  }
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  if (ec) {
    util::fail(util::ErrorKind::IO,
               "cannot read catalog directory " + root.string() + ": " + ec.message());
  }
  for (const fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
    if (ec) {
      util::fail(util::ErrorKind::IO,
                 "cannot read catalog directory " + root.string() + ": " + ec.message());
    }
    const fs::path rel = it->path().lexically_relative(root);
    if (sub.empty() && it.depth() == 0 && it->is_directory(ec) && rel.string() == k_templates_dir) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec) || it->path().extension() != ".toml") {
      continue;
    }
    std::string name = rel.string();
    name.resize(name.size() - std::string_view(".toml").size());
    if (!valid_catalog_name(name)) {
      continue;
    }
    found.try_emplace(name, CatalogEntry{name, it->path(), dir});
  }
}

std::vector<CatalogEntry> collect(const std::vector<fs::path>& dirs, std::string_view sub) {
  std::map<std::string, CatalogEntry> found;
  for (const fs::path& dir : dirs) {
    scan(dir, sub, found);
  }
  std::vector<CatalogEntry> out;
  out.reserve(found.size());
  for (auto& [name, entry] : found) {
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace

std::vector<CatalogEntry> list_catalog(const std::vector<fs::path>& dirs) {
  return collect(dirs, "");
}

std::vector<CatalogEntry> list_catalog() {
  return list_catalog(catalog_dirs());
}

std::vector<CatalogEntry> list_templates() {
  return collect(catalog_dirs(), k_templates_dir);
}

fs::path find_template(std::string_view name) {
  if (!valid_catalog_name(name)) {
    util::fail(util::ErrorKind::InvalidInput,
               "template name \"" + std::string(name) +
                   "\" must be lower-case letters, digits, '.', '_', '-' (like \"scipy-jupyter\")");
  }
  const auto templates = list_templates();
  for (const CatalogEntry& t : templates) {
    if (t.name == name) {
      return t.file;
    }
  }
  std::string names;
  for (const CatalogEntry& t : templates) {
    names += (names.empty() ? "" : ", ") + t.name;
  }
  util::fail(util::ErrorKind::NotFound,
             "template \"" + std::string(name) + "\" not found; available: " +
                 (names.empty() ? std::string("none (no catalog directory has a templates/ "
                                              "folder: add one with --catalog DIR)")
                                : names));
}

}  // namespace strata::builder
