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

/// One step of a layer. Extension point for debian/fetch/run steps (see file comment).
using Step = std::variant<CopyStep, FileStep>;

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

/// A parsed recipe. Immutable after parsing; safe to share between threads.
struct Recipe {
  std::filesystem::path file;  // the TOML file, as named by the user (lexically normalised)
  std::filesystem::path dir;   // its directory: the build context
  std::string name;
  std::string summary;
  std::optional<std::int64_t> source_date_epoch;
  std::optional<oci::Compression> compression;  // unset: the parent's, else zstd
  std::string from;                             // `from` as written; "" when none
  std::shared_ptr<const Recipe> parent;         // the parsed `from` recipe
  std::vector<Layer> layers;
  ConfigSpec config;
  SourceLocation location;  // of the [recipe] table

  /// The compression this recipe's own layers use (own, else the parent's, else zstd).
  [[nodiscard]] oci::Compression effective_compression() const;
  /// SOURCE_DATE_EPOCH for this recipe's layers and image: its own value, else
  /// `env_value` (the SOURCE_DATE_EPOCH environment variable), else the parent's, else 0.
  [[nodiscard]] std::int64_t effective_source_date_epoch(
      std::optional<std::int64_t> env_value) const;
};

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
