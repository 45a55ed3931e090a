// apt sources reading. Files are read in apt's order (sources.list, then sources.list.d
// entries sorted by name, skipping names apt would skip) and expanded into one AptSource
// per (type, URI, suite). The mirror is the first "deb" entry for a Debian release suite.
#include "builder/debian/sources.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <system_error>

#include "builder/debian/control.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace strata::builder::debian {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::vector<std::string> words(std::string_view s) { return value_words(s); }

std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const auto comma = s.find(',');
    if (comma != 0) {
      out.emplace_back(s.substr(0, comma));
    }
    if (comma == std::string_view::npos) {
      break;
    }
    s.remove_prefix(comma + 1);
  }
  return out;
}

std::string normalise_uri(std::string uri) {
  // Drop trailing slashes, but not those of "file:/" or "http://".
  while (uri.size() > 2 && uri.back() == '/' && uri[uri.size() - 2] != '/' &&
         uri[uri.size() - 2] != ':') {
    uri.pop_back();
  }
  return uri;
}

bool usable_scheme(std::string_view uri) {
  return uri.rfind("http://", 0) == 0 || uri.rfind("https://", 0) == 0 ||
         uri.rfind("file:", 0) == 0;
}

[[noreturn]] void bad_line(const std::string& where, const std::string& what) {
  util::fail(util::ErrorKind::InvalidInput, where + ": " + what);
}

void check_type(const std::string& type, const std::string& where) {
  if (type != "deb" && type != "deb-src") {
    bad_line(where, "unknown source type '" + type + "' (expected deb or deb-src)");
  }
}

// One-line options "[arch=amd64,arm64 signed-by=/usr/share/keyrings/x.gpg]".
void apply_option(AptSource& src, std::string_view option, const std::string& where) {
  const auto eq = option.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    bad_line(where, "malformed option '" + std::string(option) + "' (expected key=value)");
  }
  std::string key(option.substr(0, eq));
  const std::string_view value = option.substr(eq + 1);
  if (!key.empty() && (key.back() == '+' || key.back() == '-')) {
    key.pop_back();  // "arch+=" / "arch-=" adjust apt's defaults; the listed arches still apply
  }
  if (key == "arch") {
    src.architectures = split_commas(value);
  } else if (key == "signed-by") {
    src.signed_by = std::string(value);
  }
}

std::vector<std::string> list_dir_sorted(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const bool ok_chars = std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || c == '.';
    });
    const bool list = name.size() > 5 && name.compare(name.size() - 5, 5, ".list") == 0;
    const bool sources = name.size() > 8 && name.compare(name.size() - 8, 8, ".sources") == 0;
    if (ok_chars && (list || sources) && it->is_regular_file(ec)) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string read_if_exists(const std::filesystem::path& path, bool& exists) {
  std::error_code ec;
  exists = std::filesystem::is_regular_file(path, ec);
  return exists ? util::read_file(path) : std::string();
}

}  // namespace

std::vector<AptSource> parse_sources_list(std::string_view text, const std::string& origin) {
  std::vector<AptSource> out;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    // '#' starts a comment at the start of the line or after whitespace.
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '#' && (i == 0 || is_ws(line[i - 1]))) {
        line = line.substr(0, i);
        break;
      }
    }
    std::vector<std::string> tok = words(line);
    if (tok.empty()) {
      continue;
    }
    const std::string where = origin + ":" + std::to_string(line_no);
    AptSource src;
    src.origin = where;
    src.type = tok[0];
    check_type(src.type, where);
    std::size_t i = 1;
    if (i < tok.size() && tok[i].front() == '[') {
      // Options run until the token that ends with ']'; brackets may touch the options.
      std::string opts;
      bool closed = false;
      for (; i < tok.size() && !closed; ++i) {
        opts += " " + tok[i];
        closed = tok[i].back() == ']';
      }
      if (!closed) {
        bad_line(where, "option list '[' is not closed with ']'");
      }
      opts = opts.substr(opts.find('[') + 1);
      opts.pop_back();
      for (const std::string& o : words(opts)) {
        apply_option(src, o, where);
      }
    }
    if (i + 2 > tok.size()) {
      bad_line(where, "expected '" + src.type + " [options] URI SUITE [COMPONENT...]'");
    }
    src.uri = normalise_uri(tok[i]);
    src.suite = tok[i + 1];
    src.components.assign(tok.begin() + static_cast<std::ptrdiff_t>(i + 2), tok.end());
    if (src.suite.back() != '/' && src.components.empty()) {
      bad_line(where, "suite '" + src.suite + "' needs at least one component (e.g. main)");
    }
    out.push_back(std::move(src));
  }
  return out;
}

std::vector<AptSource> parse_sources_deb822(std::string_view text, const std::string& origin) {
  std::vector<AptSource> out;
  ControlOptions options;
  options.allow_comments = true;
  for (const Stanza& s : parse_control(text, origin, options)) {
    const std::string enabled = s.get("Enabled", "yes");
    if (enabled == "no") {
      continue;
    }
    const std::vector<std::string> types = words(s.require("Types"));
    const std::vector<std::string> uris = words(s.require("URIs"));
    const std::vector<std::string> suites = words(s.require("Suites"));
    const std::vector<std::string> components = words(s.get("Components"));
    const std::vector<std::string> arches = words(s.get("Architectures"));
    if (types.empty() || uris.empty() || suites.empty()) {
      bad_line(s.where(), "Types, URIs and Suites must not be empty");
    }
    for (const std::string& type : types) {
      check_type(type, s.where("Types"));
      for (const std::string& uri : uris) {
        for (const std::string& suite : suites) {
          if (suite.back() != '/' && components.empty()) {
            bad_line(s.where("Suites"),
                     "suite '" + suite + "' needs Components (e.g. 'Components: main')");
          }
          AptSource src;
          src.type = type;
          src.uri = normalise_uri(uri);
          src.suite = suite;
          src.components = components;
          src.architectures = arches;
          src.signed_by = s.get("Signed-By");
          src.origin = s.where();
          out.push_back(std::move(src));
        }
      }
    }
  }
  return out;
}

std::vector<AptSource> read_apt_sources(const std::filesystem::path& root) {
  std::vector<AptSource> out;
  const std::filesystem::path etc = root / "etc/apt";
  bool exists = false;
  const std::string main = read_if_exists(etc / "sources.list", exists);
  if (exists) {
    out = parse_sources_list(main, (etc / "sources.list").string());
  }
  const std::filesystem::path dir = etc / "sources.list.d";
  for (const std::string& name : list_dir_sorted(dir)) {
    const std::filesystem::path path = dir / name;
    const std::string text = read_if_exists(path, exists);
    std::vector<AptSource> more = name.size() > 8 && name.ends_with(".sources")
                                      ? parse_sources_deb822(text, path.string())
                                      : parse_sources_list(text, path.string());
    std::move(more.begin(), more.end(), std::back_inserter(out));
  }
  return out;
}

bool is_debian_release_suite(std::string_view suite) {
  // Codenames from the first release on, plus the moving aliases. A suite with a suffix
  // ("-updates", "-security", "/updates", "-backports", "-proposed-updates") is not the
  // release itself and is not listed.
  static constexpr std::array<std::string_view, 26> k_suites = {
      "buzz",     "rex",    "bo",      "hamm",      "slink",     "potato", "woody",
      "sarge",    "etch",   "lenny",   "squeeze",   "wheezy",    "jessie", "stretch",
      "buster",   "bullseye", "bookworm", "trixie", "forky",     "duke",   "sid",
      "stable",   "testing", "unstable", "oldstable", "oldoldstable"};
  return std::find(k_suites.begin(), k_suites.end(), suite) != k_suites.end();
}

DebianMirror find_debian_mirror(const std::filesystem::path& root,
                                const std::optional<std::string>& env_value) {
  if (env_value && !env_value->empty()) {
    if (!usable_scheme(*env_value)) {
      util::fail(util::ErrorKind::InvalidInput,
                 "STRATA_DEBIAN_MIRROR='" + *env_value +
                     "' is not an http://, https:// or file: URL of a Debian mirror "
                     "(e.g. http://HOST/debian)");
    }
    return DebianMirror{normalise_uri(*env_value), "", "STRATA_DEBIAN_MIRROR"};
  }
  for (const AptSource& src : read_apt_sources(root)) {
    if (src.type == "deb" && is_debian_release_suite(src.suite) && usable_scheme(src.uri)) {
      return DebianMirror{src.uri, src.signed_by, src.origin};
    }
  }
  const std::filesystem::path etc = root / "etc/apt";
  util::fail(util::ErrorKind::NotFound,
             "no Debian mirror configured: STRATA_DEBIAN_MIRROR is not set and " +
                 (etc / "sources.list").string() + " and " + (etc / "sources.list.d").string() +
                 " name no 'deb' source for a Debian release suite (security, updates and "
                 "backports suites do not count); set STRATA_DEBIAN_MIRROR=http://HOST/debian");
}

DebianMirror find_debian_mirror(const std::filesystem::path& root) {
  const char* env = std::getenv("STRATA_DEBIAN_MIRROR");
  return find_debian_mirror(root, env != nullptr ? std::optional<std::string>(env) : std::nullopt);
}

}  // namespace strata::builder::debian
