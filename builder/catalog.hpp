// The recipe catalog as a whole: listing every catalog recipe and the project templates of
// `strata init`.
//
// A catalog directory (builder::catalog_dirs(), in order) holds recipes as
// GROUP/NAME.toml (any depth); the recipe's catalog name is its path without ".toml"
// ("cuda/12.4-runtime"). When two directories hold the same name, the first one wins, as in
// find_catalog_recipe(), so `strata recipes list` shows exactly what `from`/`use` would
// load. The sub-directory `templates/` is not part of the catalog: it holds the strata.toml
// templates that `strata init --template NAME` copies into a new project.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace strata::builder {

/// The name of the catalog sub-directory that holds `strata init` templates.
inline constexpr std::string_view k_templates_dir = "templates";

/// One catalog recipe file. Value type.
struct CatalogEntry {
  std::string name;            // "cuda/12.4-runtime"
  std::filesystem::path file;  // DIR/cuda/12.4-runtime.toml
  std::filesystem::path dir;   // the catalog directory it was found in
};

/// Every recipe of the catalog directories `dirs` (default: catalog_dirs()), sorted by
/// name, the first directory winning for a name found twice. Files whose relative path is
/// not a valid catalog name (upper case, spaces, ...) and everything under templates/ are
/// skipped. Reads directories only (no recipe is parsed). Throws IO when a directory cannot
/// be read. Not thread-safe with set_catalog_dirs().
std::vector<CatalogEntry> list_catalog(const std::vector<std::filesystem::path>& dirs);
std::vector<CatalogEntry> list_catalog();

/// The `strata init` templates of the catalog directories (DIR/templates/NAME.toml), sorted
/// by name, the first directory winning. Same errors as list_catalog().
std::vector<CatalogEntry> list_templates();

/// The file of template `name`: the first catalog directory's templates/NAME.toml. Throws
/// NotFound listing the available templates, InvalidInput for a malformed name.
std::filesystem::path find_template(std::string_view name);

/// Whether `name` is a well-formed catalog or template name ("group/name", lower case,
/// digits, '.', '_', '-', '/', no "..", no leading '/').
bool valid_catalog_name(std::string_view name);

}  // namespace strata::builder
