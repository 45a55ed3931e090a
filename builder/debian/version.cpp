// Debian version parsing and comparison, a transcription of dpkg's parseversion() and
// verrevcmp() (lib/dpkg/parsehelp.c, lib/dpkg/version.c).
//
// Comparison walks both strings in alternating runs: first a run of non-digits, compared
// character by character with the weight order() gives ('~' < end of string < letters <
// everything else), then a run of digits compared as a number (leading zeros skipped, a
// longer run is larger, otherwise the first differing digit decides). Epochs compare as
// numbers before the upstream part; revisions compare with the same rules afterwards, so
// an absent revision equals "0".
//
// Validation is slightly stricter than dpkg, which only warns about an upstream version
// that does not start with a digit or holds characters outside [A-Za-z0-9.+~:-]: Debian
// policy forbids both, and a resolver must not guess what such a version means.
#include "builder/debian/version.hpp"

#include <climits>

#include "util/error.hpp"

namespace strata::builder::debian {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

[[noreturn]] void bad(std::string_view text, const char* why) {
  util::fail(util::ErrorKind::InvalidInput,
             "invalid Debian version '" + std::string(text) + "': " + why +
                 " (see deb-version(7): [epoch:]upstream_version[-debian_revision])");
}

// dpkg's order(): the weight of one character in a non-digit run; 0 is "end of string".
int order(char c) {
  if (is_digit(c)) {
    return 0;
  }
  if (is_alpha(c)) {
    return static_cast<unsigned char>(c);
  }
  if (c == '~') {
    return -1;
  }
  if (c != '\0') {
    return static_cast<unsigned char>(c) + 256;
  }
  return 0;
}

// dpkg's verrevcmp() over string_views; at(i) yields '\0' past the end like a C string.
int verrevcmp(std::string_view a, std::string_view b) {
  std::size_t i = 0;
  std::size_t j = 0;
  auto at = [](std::string_view s, std::size_t k) { return k < s.size() ? s[k] : '\0'; };
  while (i < a.size() || j < b.size()) {
    int first_diff = 0;
    while ((i < a.size() && !is_digit(a[i])) || (j < b.size() && !is_digit(b[j]))) {
      const int ac = order(at(a, i));
      const int bc = order(at(b, j));
      if (ac != bc) {
        return ac - bc;
      }
      ++i;
      ++j;
    }
    while (at(a, i) == '0') {
      ++i;
    }
    while (at(b, j) == '0') {
      ++j;
    }
    while (is_digit(at(a, i)) && is_digit(at(b, j))) {
      if (first_diff == 0) {
        first_diff = at(a, i) - at(b, j);
      }
      ++i;
      ++j;
    }
    if (is_digit(at(a, i))) {
      return 1;
    }
    if (is_digit(at(b, j))) {
      return -1;
    }
    if (first_diff != 0) {
      return first_diff;
    }
  }
  return 0;
}

}  // namespace

Version Version::parse(std::string_view text) {
  std::string_view s = text;
  while (!s.empty() && is_space(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_space(s.back())) {
    s.remove_suffix(1);
  }
  if (s.empty()) {
    bad(text, "version string is empty");
  }
  for (char c : s) {
    if (is_space(c)) {
      bad(text, "version string has embedded spaces");
    }
  }
  Version v;
  if (const auto colon = s.find(':'); colon != std::string_view::npos) {
    const std::string_view epoch = s.substr(0, colon);
    if (epoch.empty()) {
      bad(text, "epoch in version is empty");
    }
    unsigned long value = 0;
    for (char c : epoch) {
      if (!is_digit(c)) {
        bad(text, "epoch in version is not a number");
      }
      value = value * 10 + static_cast<unsigned long>(c - '0');
      if (value > static_cast<unsigned long>(INT_MAX)) {
        bad(text, "epoch in version is too big");
      }
    }
    v.epoch = value;
    s.remove_prefix(colon + 1);
  }
  if (const auto hyphen = s.rfind('-'); hyphen != std::string_view::npos) {
    v.revision = std::string(s.substr(hyphen + 1));
    if (v.revision.empty()) {
      bad(text, "revision number is empty");
    }
    s = s.substr(0, hyphen);
  }
  if (s.empty()) {
    bad(text, "version number is empty");
  }
  if (!is_digit(s.front())) {
    bad(text, "version number does not start with a digit");
  }
  for (char c : s) {
    if (!is_digit(c) && !is_alpha(c) && c != '.' && c != '-' && c != '+' && c != '~' && c != ':') {
      bad(text, "invalid character in version number");
    }
  }
  for (char c : v.revision) {
    if (!is_digit(c) && !is_alpha(c) && c != '.' && c != '+' && c != '~') {
      bad(text, "invalid character in revision number");
    }
  }
  v.upstream = std::string(s);
  return v;
}

std::string Version::str() const {
  std::string out;
  // An upstream part with a colon needs its epoch, even 0, to read back the same.
  if (epoch != 0 || upstream.find(':') != std::string::npos) {
    out = std::to_string(epoch) + ":";
  }
  out += upstream;
  if (!revision.empty()) {
    out += "-" + revision;
  }
  return out;
}

int compare_versions(const Version& a, const Version& b) {
  if (a.epoch != b.epoch) {
    return a.epoch < b.epoch ? -1 : 1;
  }
  if (const int r = verrevcmp(a.upstream, b.upstream); r != 0) {
    return r;
  }
  return verrevcmp(a.revision, b.revision);
}

int compare_versions(std::string_view a, std::string_view b) {
  return compare_versions(Version::parse(a), Version::parse(b));
}

}  // namespace strata::builder::debian
