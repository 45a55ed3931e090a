// deb822 parsing. A stanza is a run of non-blank lines; a line holding only spaces and
// tabs is blank. A line starting with a space or tab continues the previous field; any
// other line must be "Name: value" with a name of printable ASCII that neither starts with
// '#' or '-' nor contains a colon. The reader pulls the source in 64 KiB chunks and keeps
// only the current stanza and the unread rest of the chunk.
#include "builder/debian/control.hpp"

#include <algorithm>

#include "util/error.hpp"

namespace strata::builder::debian {
namespace {

constexpr std::size_t k_chunk = 64 * 1024;
// Real stanzas have a few dozen fields; the bound keeps the duplicate check (linear per
// field) from turning a hostile file into quadratic work.
constexpr std::size_t k_max_fields = 1000;

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_ws(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

[[noreturn]] void fail_at(const std::string& origin, std::size_t line, const std::string& what) {
  util::fail(util::ErrorKind::InvalidInput, origin + ":" + std::to_string(line) + ": " + what);
}

// Printable text for a message, at most 60 characters.
std::string quote(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 60)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  return "'" + out + (s.size() > 60 ? "...'" : "'");
}

}  // namespace

bool field_name_equal(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

const ControlField* Stanza::field(std::string_view name) const noexcept {
  for (const ControlField& f : m_fields) {
    if (field_name_equal(f.name, name)) {
      return &f;
    }
  }
  return nullptr;
}

const std::string* Stanza::find(std::string_view name) const noexcept {
  const ControlField* f = field(name);
  return f != nullptr ? &f->value : nullptr;
}

std::string Stanza::get(std::string_view name, std::string_view fallback) const {
  const std::string* v = find(name);
  return v != nullptr ? *v : std::string(fallback);
}

const std::string& Stanza::require(std::string_view name) const {
  const std::string* v = find(name);
  if (v == nullptr) {
    fail_at(m_origin, m_line, "stanza has no '" + std::string(name) + "' field");
  }
  return *v;
}

void Stanza::add(ControlField f) {
  if (const ControlField* old = field(f.name); old != nullptr) {
    fail_at(m_origin, f.line,
            "duplicate field '" + f.name + "' (first at line " + std::to_string(old->line) + ")");
  }
  if (m_fields.size() >= k_max_fields) {
    fail_at(m_origin, f.line,
            "stanza has more than " + std::to_string(k_max_fields) + " fields; this is not "
            "Debian control data");
  }
  if (m_fields.empty() && m_line == 0) {
    m_line = f.line;
  }
  m_fields.push_back(std::move(f));
}

void Stanza::append_to_last(std::string_view text) {
  std::string& value = m_fields.back().value;
  value += '\n';
  value.append(text);
}

void Stanza::trim_last_value() {
  if (m_fields.empty()) {
    return;
  }
  std::string& value = m_fields.back().value;
  while (!value.empty() && is_ws(value.back())) {
    value.pop_back();
  }
}

std::string Stanza::where(std::string_view name) const {
  const ControlField* f = name.empty() ? nullptr : field(name);
  return m_origin + ":" + std::to_string(f != nullptr ? f->line : m_line);
}

ControlReader::ControlReader(util::Source& source, std::string origin, ControlOptions options)
    : m_source(source), m_origin(std::move(origin)), m_options(options) {}

bool ControlReader::next_line(std::string_view& line) {
  for (;;) {
    const auto nl = m_buffer.find('\n', m_pos);
    if (nl != std::string::npos) {
      line = std::string_view(m_buffer).substr(m_pos, nl - m_pos);
      m_pos = nl + 1;
      ++m_line;
      return true;
    }
    if (m_eof) {
      if (m_pos >= m_buffer.size()) {
        return false;
      }
      line = std::string_view(m_buffer).substr(m_pos);  // last line without '\n'
      m_pos = m_buffer.size();
      ++m_line;
      return true;
    }
    // Keep the unread tail and pull the next chunk behind it.
    m_buffer.erase(0, m_pos);
    m_pos = 0;
    const std::size_t old = m_buffer.size();
    m_buffer.resize(old + k_chunk);
    const std::size_t n = m_source.read(m_buffer.data() + old, k_chunk);
    m_buffer.resize(old + n);
    m_eof = n == 0;
  }
}

std::optional<Stanza> ControlReader::next() {
  std::optional<Stanza> stanza;
  std::string_view line;
  while (next_line(line)) {
    if (m_options.allow_comments && !line.empty() && line.front() == '#') {
      continue;
    }
    if (trim(line).empty()) {
      if (stanza) {
        stanza->trim_last_value();
        return stanza;
      }
      continue;
    }
    if (is_blank(line.front())) {
      if (!stanza) {
        fail_at(m_origin, m_line,
                "continuation line " + quote(trim(line)) + " outside of a field; a stanza must "
                "start with 'Name: value'");
      }
      // Inner lines keep trailing whitespace, as dpkg keeps it (a status file written from
      // this value must match dpkg's byte for byte); the end of the value is trimmed.
      stanza->append_to_last(line.substr(1));
      continue;
    }
    if (line.front() == '#') {
      fail_at(m_origin, m_line, "line " + quote(line) + " looks like a comment; comments are "
              "not allowed in this file");
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      std::string hint;
      if (line.rfind("-----BEGIN PGP", 0) == 0) {
        hint = " (the file is PGP-signed: verify it with gpgv and parse the verified content)";
      } else {
        hint = " (expected 'Name: value', a continuation line starting with a space, or a "
               "blank line between stanzas)";
      }
      fail_at(m_origin, m_line, "malformed line " + quote(line) + hint);
    }
    const std::string_view name = line.substr(0, colon);
    for (char c : name) {
      const auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u >= 0x7f) {
        fail_at(m_origin, m_line, "invalid field name " + quote(name));
      }
    }
    if (name.front() == '#' || name.front() == '-') {
      fail_at(m_origin, m_line, "invalid field name " + quote(name));
    }
    if (!stanza) {
      stanza.emplace(m_origin, m_line);
    }
    stanza->trim_last_value();
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && is_blank(value.front())) {
      value.remove_prefix(1);
    }
    stanza->add(ControlField{std::string(name), std::string(value), m_line});
  }
  if (stanza) {
    stanza->trim_last_value();
  }
  return stanza;
}

std::vector<Stanza> parse_control(std::string_view text, std::string_view origin,
                                  ControlOptions options) {
  util::StringSource source(text);
  ControlReader reader(source, std::string(origin), options);
  std::vector<Stanza> out;
  while (auto s = reader.next()) {
    out.push_back(std::move(*s));
  }
  return out;
}

std::vector<std::string> value_lines(std::string_view value) {
  std::vector<std::string> out;
  while (!value.empty()) {
    const auto nl = value.find('\n');
    const std::string_view line = trim(value.substr(0, nl));
    if (!line.empty()) {
      out.emplace_back(line);
    }
    if (nl == std::string_view::npos) {
      break;
    }
    value.remove_prefix(nl + 1);
  }
  return out;
}

std::vector<std::string> value_words(std::string_view value) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() && is_ws(value[i])) {
      ++i;
    }
    const std::size_t start = i;
    while (i < value.size() && !is_ws(value[i])) {
      ++i;
    }
    if (i > start) {
      out.emplace_back(value.substr(start, i - start));
    }
  }
  return out;
}

}  // namespace strata::builder::debian
