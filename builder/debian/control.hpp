// deb822 control data: the "Field: value" stanza format of Packages and Release indexes,
// the dpkg status database, .deb control files and apt's .sources files (deb822(5)).
// The free functions here are pure and thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/io.hpp"

namespace strata::builder::debian {

/// One field of a stanza. `value` is the text after the colon with surrounding whitespace
/// removed; each continuation line adds '\n' followed by the line without its first
/// character (the space or tab that marks it as a continuation) and without trailing
/// whitespace. `line` is the 1-based line of the field name. Value type.
struct ControlField {
  std::string name;
  std::string value;
  std::size_t line = 0;
};

/// One stanza (paragraph): fields in file order, looked up case-insensitively. Value type.
class Stanza {
 public:
  Stanza() = default;
  Stanza(std::string origin, std::size_t line) : m_origin(std::move(origin)), m_line(line) {}

  /// The value of a field (case-insensitive name), or nullptr. The pointer lives as long
  /// as the stanza is not modified.
  [[nodiscard]] const std::string* find(std::string_view name) const noexcept;
  /// The field itself (for its line), or nullptr.
  [[nodiscard]] const ControlField* field(std::string_view name) const noexcept;
  /// The value of a field, or `fallback` when absent.
  [[nodiscard]] std::string get(std::string_view name, std::string_view fallback = {}) const;
  /// The value of a field; throws InvalidInput "<origin>:<line>: missing field NAME".
  [[nodiscard]] const std::string& require(std::string_view name) const;
  [[nodiscard]] bool has(std::string_view name) const noexcept { return field(name) != nullptr; }

  /// Appends a field; throws InvalidInput naming origin:line if the name already exists.
  void add(ControlField field);
  /// Appends "\n" + `text` to the value of the last field (a continuation line).
  /// Precondition: the stanza is not empty.
  void append_to_last(std::string_view text);
  /// Removes trailing whitespace from the last field's whole value (as dpkg does: inner
  /// lines keep theirs).
  void trim_last_value();

  [[nodiscard]] const std::vector<ControlField>& fields() const noexcept { return m_fields; }
  [[nodiscard]] bool empty() const noexcept { return m_fields.empty(); }
  /// Where the stanza came from (a file name or URL) and its first line, for messages.
  [[nodiscard]] const std::string& origin() const noexcept { return m_origin; }
  [[nodiscard]] std::size_t line() const noexcept { return m_line; }
  /// "origin:line" of a field (or of the stanza when the field is absent), for messages.
  [[nodiscard]] std::string where(std::string_view name = {}) const;

 private:
  std::string m_origin;
  std::size_t m_line = 0;
  std::vector<ControlField> m_fields;
};

/// Parser options.
struct ControlOptions {
  /// Accept lines starting with '#' as comments (apt .sources files, debian/control).
  /// Without it such a line is an error, as in Packages indexes and the dpkg status file.
  bool allow_comments = false;
};

/// Reads stanzas one at a time from a stream, so a large Packages index is never held in
/// memory whole. Errors are InvalidInput "<origin>:<line>: <problem>". Not thread-safe.
class ControlReader {
 public:
  /// `source` must outlive the reader; `origin` names it in messages.
  ControlReader(util::Source& source, std::string origin, ControlOptions options = {});

  /// The next non-empty stanza, or nullopt at the end of the stream.
  std::optional<Stanza> next();

 private:
  bool next_line(std::string_view& line);

  util::Source& m_source;
  std::string m_origin;
  ControlOptions m_options;
  std::string m_buffer;
  std::size_t m_pos = 0;
  bool m_eof = false;
  std::size_t m_line = 0;
};

/// Parses a whole text into its stanzas (see ControlReader). Thread-safe.
std::vector<Stanza> parse_control(std::string_view text, std::string_view origin,
                                  ControlOptions options = {});

/// Case-insensitive ASCII comparison of field names.
bool field_name_equal(std::string_view a, std::string_view b) noexcept;

/// Splits a multi-line value into its lines with surrounding whitespace removed, dropping
/// empty ones (for the SHA256 list of a Release file, Signed-By key blocks and the like).
std::vector<std::string> value_lines(std::string_view value);

/// Splits a value on spaces, tabs and newlines (for "Architectures: amd64 arm64").
std::vector<std::string> value_words(std::string_view value);

}  // namespace strata::builder::debian
