#include "util/units.hpp"

#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>

#include "util/error.hpp"

namespace strata::util {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// Reads "123" or "1.5" at the front of `text`; advances it.
std::optional<double> take_number(std::string_view& text) {
  std::size_t i = 0;
  bool digits = false;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) {
    ++i;
    digits = true;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) {
      ++i;
      digits = true;
    }
  }
  if (!digits) {
    return std::nullopt;
  }
  const std::string number(text.substr(0, i));
  text.remove_prefix(i);
  return std::stod(number);
}

std::optional<double> size_unit(const std::string& unit) {
  struct Unit {
    const char* names[3];
    double factor;
  };
  static const std::array<Unit, 11> k_units = {{
      {{"", "b", "b"}, 1.0},
      {{"k", "kib", "ki"}, 1024.0},
      {{"m", "mib", "mi"}, 1024.0 * 1024},
      {{"g", "gib", "gi"}, 1024.0 * 1024 * 1024},
      {{"t", "tib", "ti"}, 1024.0 * 1024 * 1024 * 1024},
      {{"p", "pib", "pi"}, 1024.0 * 1024 * 1024 * 1024 * 1024},
      {{"kb", "kb", "kb"}, 1e3},
      {{"mb", "mb", "mb"}, 1e6},
      {{"gb", "gb", "gb"}, 1e9},
      {{"tb", "tb", "tb"}, 1e12},
      {{"pb", "pb", "pb"}, 1e15},
  }};
  for (const auto& u : k_units) {
    for (const char* name : u.names) {
      if (unit == name) {
        return u.factor;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::uint64_t parse_size(std::string_view text, std::string_view what) {
  const auto bad = [&]() {
    fail(ErrorKind::InvalidInput,
         "invalid size '" + std::string(text) + "' for " + std::string(what) +
             ": expected a number with an optional unit: K, M, G, T (powers of 1024, also "
             "KiB...) or KB, MB, GB, TB (powers of 1000), e.g. 10G");
  };
  std::string_view rest = text;
  const auto number = take_number(rest);
  if (!number) {
    bad();
  }
  const auto factor = size_unit(lower(rest));
  if (!factor) {
    bad();
  }
  const double bytes = std::floor(*number * *factor);
  if (bytes >= 18446744073709551615.0) {
    fail(ErrorKind::InvalidInput,
         "size '" + std::string(text) + "' for " + std::string(what) + " is too large");
  }
  return static_cast<std::uint64_t>(bytes);
}

std::int64_t parse_duration(std::string_view text, std::string_view what) {
  const auto bad = [&]() {
    fail(ErrorKind::InvalidInput,
         "invalid duration '" + std::string(text) + "' for " + std::string(what) +
             ": expected numbers with units s, m, h, d, w, e.g. 30d, 10m or 1h30m");
  };
  std::string_view rest = text;
  if (rest.empty()) {
    bad();
  }
  double total = 0;
  bool first = true;
  while (!rest.empty()) {
    const auto number = take_number(rest);
    if (!number) {
      bad();
    }
    double factor = 0;
    if (rest.empty()) {
      if (!first) {
        bad();  // "1h30" is ambiguous
      }
      factor = 1;
    } else {
      switch (std::tolower(static_cast<unsigned char>(rest.front()))) {
        case 's':
          factor = 1;
          break;
        case 'm':
          factor = 60;
          break;
        case 'h':
          factor = 3600;
          break;
        case 'd':
          factor = 86400;
          break;
        case 'w':
          factor = 7 * 86400;
          break;
        default:
          bad();
      }
      rest.remove_prefix(1);
    }
    total += *number * factor;
    first = false;
  }
  if (total >= static_cast<double>(std::numeric_limits<std::int64_t>::max())) {
    fail(ErrorKind::InvalidInput,
         "duration '" + std::string(text) + "' for " + std::string(what) + " is too large");
  }
  return static_cast<std::int64_t>(total);
}

std::string format_size(std::uint64_t bytes) {
  static constexpr std::array<const char*, 6> k_units = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) {
    return std::to_string(bytes) + " B";
  }
  double value = static_cast<double>(bytes) / 1024.0;
  std::size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < k_units.size()) {
    value /= 1024.0;
    ++unit;
  }
  char buf[32];
  const int decimals = value < 10 ? 2 : value < 100 ? 1 : 0;
  std::snprintf(buf, sizeof buf, "%.*f %s", decimals, value, k_units[unit]);
  return buf;
}

}  // namespace strata::util
