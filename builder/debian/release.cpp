// Release file parsing, RFC 2822 dates, Valid-Until and index verification against the
// Release SHA256 list. Signature checking lives in release_verify.cpp.
#include "builder/debian/release.hpp"

#include <array>
#include <cstdio>
#include <vector>

#include "builder/debian/control.hpp"
#include "util/error.hpp"
#include "util/hash.hpp"

namespace strata::builder::debian {
namespace {

[[noreturn]] void bad_date(std::string_view text, const char* why) {
  util::fail(util::ErrorKind::InvalidInput,
             "invalid date '" + std::string(text) + "': " + why +
                 " (expected RFC 2822, e.g. 'Sat, 10 Jun 2023 08:55:30 UTC')");
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

// Parses a run of 1..max_digits digits; -1 if not that.
long number(std::string_view s, std::size_t min_digits, std::size_t max_digits) {
  if (s.size() < min_digits || s.size() > max_digits) {
    return -1;
  }
  long n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return -1;
    }
    n = n * 10 + (c - '0');
  }
  return n;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool leap(long y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

std::uint64_t parse_size(std::string_view s, bool& ok) {
  ok = !s.empty() && s.size() <= 19;
  std::uint64_t n = 0;
  for (char c : s) {
    ok = ok && c >= '0' && c <= '9';
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

bool is_hex64(std::string& s) {
  if (s.size() != 64) {
    return false;
  }
  for (char& c : s) {
    c = lower(c);
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::int64_t parse_rfc2822_date(std::string_view text) {
  const std::vector<std::string> words = value_words(text);
  std::size_t i = 0;
  if (!words.empty() && !words[0].empty() && words[0].back() == ',') {
    static constexpr std::array<std::string_view, 7> k_days = {"mon", "tue", "wed", "thu",
                                                               "fri", "sat", "sun"};
    const std::string_view day = std::string_view(words[0]).substr(0, words[0].size() - 1);
    bool known = false;
    for (std::string_view d : k_days) {
      known = known || iequal(d, day);
    }
    if (!known) {
      bad_date(text, "unknown day of the week");
    }
    i = 1;
  }
  if (words.size() != i + 5) {
    bad_date(text, "expected 'day month year hh:mm[:ss] zone'");
  }
  const long day = number(words[i], 1, 2);
  static constexpr std::array<std::string_view, 12> k_months = {
      "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  unsigned month = 0;
  for (unsigned m = 0; m < 12; ++m) {
    if (iequal(k_months[m], words[i + 1])) {
      month = m + 1;
    }
  }
  const long year = number(words[i + 2], 4, 4);
  if (month == 0) {
    bad_date(text, "unknown month");
  }
  static constexpr std::array<int, 12> k_days_in = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (year < 1970) {
    bad_date(text, "year must have four digits, from 1970");
  }
  const int max_day = k_days_in[month - 1] + (month == 2 && leap(year) ? 1 : 0);
  if (day < 1 || day > max_day) {
    bad_date(text, "day out of range");
  }
  const std::string_view hms = words[i + 3];
  long hh = -1;
  long mm = -1;
  long ss = 0;
  if (hms.size() == 5 && hms[2] == ':') {
    hh = number(hms.substr(0, 2), 2, 2);
    mm = number(hms.substr(3, 2), 2, 2);
  } else if (hms.size() == 8 && hms[2] == ':' && hms[5] == ':') {
    hh = number(hms.substr(0, 2), 2, 2);
    mm = number(hms.substr(3, 2), 2, 2);
    ss = number(hms.substr(6, 2), 2, 2);
  }
  if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60) {
    bad_date(text, "time must be hh:mm or hh:mm:ss");
  }
  const std::string_view zone = words[i + 4];
  long offset = 0;
  if (iequal(zone, "UTC") || iequal(zone, "GMT") || iequal(zone, "UT") || iequal(zone, "Z")) {
    offset = 0;
  } else if (zone.size() == 5 && (zone[0] == '+' || zone[0] == '-')) {
    const long zh = number(zone.substr(1, 2), 2, 2);
    const long zm = number(zone.substr(3, 2), 2, 2);
    if (zh < 0 || zh > 23 || zm < 0 || zm > 59) {
      bad_date(text, "invalid zone offset");
    }
    offset = (zh * 60 + zm) * 60 * (zone[0] == '-' ? -1 : 1);
  } else {
    bad_date(text, "zone must be UTC, GMT, Z or +hhmm/-hhmm");
  }
  const std::int64_t days =
      days_from_civil(year, month, static_cast<unsigned>(day));
  return days * 86400 + hh * 3600 + mm * 60 + ss - offset;
}

std::string format_utc(std::int64_t t) {
  std::int64_t days = t / 86400;
  std::int64_t secs = t % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  // civil_from_days (Howard Hinnant).
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u %02lld:%02lld:%02lld UTC",
                static_cast<long long>(y), m, d, static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  return buf;
}

const ReleaseFile* Release::find(std::string_view path) const noexcept {
  for (const ReleaseFile& f : sha256) {
    if (f.path == path) {
      return &f;
    }
  }
  return nullptr;
}

std::string Release::fetch_path(const ReleaseFile& file) const {
  if (!acquire_by_hash) {
    return file.path;
  }
  const auto slash = file.path.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : file.path.substr(0, slash + 1);
  return dir + "by-hash/SHA256/" + file.sha256;
}

Release parse_release(std::string_view text, std::string_view origin) {
  const std::vector<Stanza> stanzas = parse_control(text, origin);
  if (stanzas.size() != 1) {
    util::fail(util::ErrorKind::InvalidInput,
               std::string(origin) + ": a Release file must hold exactly one stanza, found " +
                   std::to_string(stanzas.size()));
  }
  const Stanza& s = stanzas.front();
  Release r;
  r.origin = s.get("Origin");
  r.label = s.get("Label");
  r.suite = s.get("Suite");
  r.codename = s.get("Codename");
  r.version = s.get("Version");
  if (r.suite.empty() && r.codename.empty()) {
    util::fail(util::ErrorKind::InvalidInput, s.where() + ": Release has neither Suite nor Codename");
  }
  auto date_of = [&](std::string_view field) {
    try {
      return parse_rfc2822_date(s.require(field));
    } catch (const util::Error& e) {
      util::fail(util::ErrorKind::InvalidInput,
                 s.where(field) + ": " + std::string(field) + ": " + e.what());
    }
  };
  r.date = date_of("Date");
  if (s.has("Valid-Until")) {
    r.valid_until = date_of("Valid-Until");
  }
  r.architectures = value_words(s.get("Architectures"));
  r.components = value_words(s.get("Components"));
  const std::string by_hash = s.get("Acquire-By-Hash", "no");
  if (by_hash != "yes" && by_hash != "no") {
    util::fail(util::ErrorKind::InvalidInput,
               s.where("Acquire-By-Hash") + ": Acquire-By-Hash must be yes or no, not '" +
                   by_hash + "'");
  }
  r.acquire_by_hash = by_hash == "yes";
  const ControlField* list = s.field("SHA256");
  if (list == nullptr) {
    util::fail(util::ErrorKind::InvalidInput,
               s.where() + ": Release has no SHA256 list; strata cannot verify its indexes");
  }
  std::size_t line = list->line;
  for (const std::string& entry : value_lines(list->value)) {
    ++line;
    std::vector<std::string> parts = value_words(entry);
    bool ok = parts.size() == 3 && is_hex64(parts[0]);
    ReleaseFile f;
    if (ok) {
      f.size = parse_size(parts[1], ok);
      f.sha256 = std::move(parts[0]);
      f.path = std::move(parts[2]);
    }
    if (!ok) {
      util::fail(util::ErrorKind::InvalidInput,
                 std::string(origin) + ":" + std::to_string(line) + ": SHA256 entry '" + entry +
                     "' is not '<64 hex digits> <size> <path>'");
    }
    r.sha256.push_back(std::move(f));
  }
  return r;
}

void check_valid_until(const Release& release, std::int64_t now, bool allow_expired,
                       std::string_view url) {
  if (!release.valid_until || now <= *release.valid_until || allow_expired) {
    return;
  }
  util::fail(util::ErrorKind::InvalidInput,
             std::string(url) + ": Release expired on " + format_utc(*release.valid_until) +
                 " (Valid-Until), it is now " + format_utc(now) +
                 "; the mirror is stale or replays old data. For a snapshot archive, allow "
                 "expired Release files explicitly");
}

void verify_index(const Release& release, std::string_view path, util::Source& content,
                  std::string_view url) {
  const ReleaseFile* entry = release.find(path);
  if (entry == nullptr) {
    util::fail(util::ErrorKind::NotFound,
               std::string(url) + ": index '" + std::string(path) +
                   "' is not listed in the Release SHA256 list; check the suite, component "
                   "and architecture");
  }
  util::HashingSink hasher(nullptr);
  std::vector<char> buf(64 * 1024);
  for (;;) {
    const std::size_t n = content.read(buf.data(), buf.size());
    if (n == 0) {
      break;
    }
    hasher.write(buf.data(), n);
    if (hasher.size() > entry->size) {
      break;  // already too long: no need to read the rest
    }
  }
  const std::uint64_t got_size = hasher.size();
  const std::string got = hasher.finish_hex();
  if (got_size != entry->size) {
    util::fail(util::ErrorKind::Corruption,
               std::string(url) + ": index '" + std::string(path) + "' has " +
                   (got_size > entry->size ? "more than " : "") + std::to_string(got_size) +
                   " bytes, the Release promises " + std::to_string(entry->size) +
                   "; download it again (the mirror may be mid-sync)");
  }
  if (got != entry->sha256) {
    util::fail(util::ErrorKind::Corruption,
               std::string(url) + ": index '" + std::string(path) + "' has sha256 " + got +
                   ", the Release promises " + entry->sha256 +
                   "; download it again (the mirror may be mid-sync)");
  }
}

void verify_index_file(const Release& release, std::string_view path,
                       const std::filesystem::path& file, std::string_view url) {
  util::FileSource source(file);
  verify_index(release, path, source, url);
}

}  // namespace strata::builder::debian
