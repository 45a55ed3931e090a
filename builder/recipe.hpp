// The recipe model: what a strata.toml says, parsed, validated and normalised.
//
// A recipe names an optional parent recipe (`from`), an ordered list of layers made of
// steps, and image config. Parsing (recipe.cpp, toml++) rejects unknown keys, wrong types
// and missing required keys with "FILE:LINE:COL: message"; every element keeps its source
// location so that build-time errors can point at the step that failed. The canonical form
// (recipe_json.cpp) is a normalised JSON document whose sha256 is the recipe's identity:
// comments, spacing and key order of the TOML text do not change it; content does.
//
// Step kinds form a std::variant. Adding a kind (debian, fetch, run: next version) means a
// new struct in `Step`, a parser in recipe_steps.cpp's dispatch table, a canonical form in
// recipe_json.cpp and a planner in steps.cpp; std::visit makes the compiler list every
// place that must handle it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "oci/digest.hpp"
#include "oci/layer_writer.hpp"

namespace strata::builder {

/// Where an element of a recipe was written, for error messages. Value type.
struct SourceLocation {
  std::string file;  // the recipe file as the user named it (or as `from` resolved it)
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  /// "FILE:LINE:COL" (or just FILE when the line is unknown).
  [[nodiscard]] std::string str() const;
};

/// A numeric owner "uid:gid".
struct Owner {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  bool operator==(const Owner&) const = default;
};

/// `type = "copy"`: a file or directory from the recipe's directory (the build context).
struct CopyStep {
  std::string src;   // normalised, relative to the recipe directory; "." = the whole directory
  std::string dest;  // normalised absolute path in the image, without a trailing '/'
  bool dest_is_dir = false;           // dest was written with a trailing '/'
  std::optional<std::uint32_t> mode;  // applies to regular files; else 0755/0644 by exec bit
  std::optional<Owner> owner;         // else 0:0
  SourceLocation location;
};

/// `type = "file"`: an inline file.
struct FileStep {
  std::string path;  // normalised absolute path in the image
  std::string content;
  std::uint32_t mode = 0644;
  std::optional<Owner> owner;  // else 0:0
  SourceLocation location;
};

/// `type = "debian"`: Debian packages, resolved against the stack's archive ([debian]),
/// pinned in the lock, installed and configured. At most one per layer.
struct DebianStep {
  std::vector<std::string> packages;  // as written: "name", "name:arch", "name=version", ...
  std::string priority = "none";      // "none", "minbase" (Essential + required), "important"
  bool recommends = false;            // also install Recommends
  SourceLocation location;
};

/// `type = "fetch"`: a file from a URL, pinned by its digest; optionally extracted.
struct FetchStep {
  std::string url;
  oci::Digest digest;  // sha256 or sha512, from the `sha256` / `sha512` key
  std::string dest;    // normalised absolute path in the image, without a trailing '/'
  bool dest_is_dir = false;  // dest was written with a trailing '/' (plain files: keep the name)
  std::string extract;       // "" (no extraction), "tar" (any compression) or "zip"
  std::uint32_t strip_components = 0;
  std::optional<std::uint32_t> mode;  // plain files only; default 0644
  std::optional<Owner> owner;         // else 0:0
  SourceLocation location;
};

/// `type = "run"`: a command run inside the image being built, in the sandbox.
struct RunStep {
  std::vector<std::string> argv;  // `command` as an array, or ["/bin/sh", "-c", STRING]
  std::map<std::string, std::string> env;
  std::string workdir = "/";
  Owner user;             // numeric uid:gid, default 0:0
  bool network = false;   // share the host's network
  SourceLocation location;
};

/// One step of a layer (see file comment). A layer holds either file steps (copy, file,
/// fetch) or system steps (debian, run), never both: system steps run in the sandbox on an
/// overlay of the layers below, file steps are written without it.
using Step = std::variant<CopyStep, FileStep, DebianStep, FetchStep, RunStep>;

/// Whether a step runs in the sandbox (debian, run).
bool is_system_step(const Step& step);

/// Source location of any step.
const SourceLocation& step_location(const Step& step);

/// One `[[layer]]`.
struct Layer {
  std::string name;  // optional; "" when not given
  std::vector<Step> steps;
  SourceLocation location;
};

/// `[config]`: runtime defaults of the image. Unset optionals inherit from the parent.
struct ConfigSpec {
  std::map<std::string, std::string> env;
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  std::optional<std::string> workdir;
  std::optional<std::string> user;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<std::string> ports;  // normalised "N/tcp" or "N/udp", sorted, unique

  /// This config laid over `base`: maps merged key by key, set values replace, ports united.
  [[nodiscard]] ConfigSpec merged_over(const ConfigSpec& base) const;
};

/// `[debian]`: the Debian archive the stack's debian steps resolve against. A child recipe
/// inherits its parent's and may add components; suite and architectures must agree.
struct DebianSpec {
  std::string suite;                       // "" = inherit
  std::vector<std::string> components;     // added to the parent's; default {"main"}
  std::vector<std::string> architectures;  // empty = inherit, else the host's
  std::string keyring;                     // path (relative to the recipe dir) or "" = default
  SourceLocation location;
};

/// A parsed recipe. Immutable after parsing; safe to share between threads.
struct Recipe {
  std::filesystem::path file;  // the TOML file, as named by the user (lexically normalised)
  std::filesystem::path dir;   // its directory: the build context
  std::string name;
  std::string summary;
  std::optional<std::int64_t> source_date_epoch;
  std::optional<oci::Compression> compression;  // unset: the parent's, else zstd
  std::optional<std::uint64_t> layer_budget;     // bytes of .debs per layer part; unset: parent's
  std::string from;                             // `from` as written; "" when none
  std::vector<std::string> use;                 // `use` as written (catalog names)
  std::shared_ptr<const Recipe> parent;         // the parsed `from` recipe
  std::vector<Layer> layers;
  ConfigSpec config;
  std::optional<DebianSpec> debian;  // the [debian] table, when written
  SourceLocation location;  // of the [recipe] table

  /// Bytes of .debs above which a debian layer is split into parts (own, else the
  /// parent's, else builder::k_default_layer_budget = 512 MiB).
  [[nodiscard]] std::uint64_t effective_layer_budget() const;
  /// The compression this recipe's own layers use (own, else the parent's, else zstd).
  [[nodiscard]] oci::Compression effective_compression() const;
  /// SOURCE_DATE_EPOCH for this recipe's layers and image: its own value, else
  /// `env_value` (the SOURCE_DATE_EPOCH environment variable), else the parent's, else 0.
  [[nodiscard]] std::int64_t effective_source_date_epoch(
      std::optional<std::int64_t> env_value) const;
};

/// Adds directories searched for catalog recipes before STRATA_CATALOG and the installed
/// catalog (the CLI's --catalog). Call before loading recipes; not thread-safe.
void set_catalog_dirs(std::vector<std::filesystem::path> dirs);

/// The directories searched for catalog recipes, in order: set_catalog_dirs(), then
/// STRATA_CATALOG (':'-separated), then the installed catalog (<prefix>/share/strata/recipes,
/// next to the executable or at the configured install prefix) and the source tree's
/// recipes/ when strata runs from its build tree. Only existing directories are listed.
std::vector<std::filesystem::path> catalog_dirs();

/// The file of catalog recipe `name` ("cuda/12.4-runtime" -> DIR/cuda/12.4-runtime.toml in
/// the first catalog dir that has it). Throws NotFound listing the directories searched,
/// InvalidInput for a malformed name.
std::filesystem::path find_catalog_recipe(std::string_view name);

/// The default recipe file name inside a directory.
inline constexpr std::string_view k_recipe_file_name = "strata.toml";

/// Loads a recipe from a file, or from a directory holding strata.toml, with its `from`
/// chain. Checks that every copy source exists inside its recipe directory. Throws
/// InvalidInput "FILE:LINE:COL: message" for syntax and schema errors, Unsupported for
/// step types this version cannot build, NotFound when the file is missing.
Recipe load_recipe(const std::filesystem::path& path);

/// Parses recipe text as if read from `file` (used for `from` resolution, copy-source
/// checks and error locations). Same errors as load_recipe.
Recipe parse_recipe(std::string_view text, const std::filesystem::path& file);

/// Canonical JSON of a recipe (sorted keys, normalised values, the parent's identity in
/// place of the parent). Stable across versions of the TOML text with the same meaning.
std::string canonical_json(const Recipe& recipe);

/// Canonical JSON of one layer definition (name and steps), as used in cache keys.
std::string layer_definition_json(const Layer& layer);

/// The recipe's identity: sha256 of canonical_json().
oci::Digest recipe_identity(const Recipe& recipe);

/// Parses SOURCE_DATE_EPOCH text (decimal, >= 0); throws InvalidInput naming `what`.
std::int64_t parse_source_date_epoch(std::string_view text, std::string_view what);

/// The SOURCE_DATE_EPOCH environment variable, if set (InvalidInput if malformed).
std::optional<std::int64_t> source_date_epoch_from_env();

/// "zstd" / "gzip" / "none".
std::string_view compression_name(oci::Compression compression);

}  // namespace strata::builder
