// Where the Debian mirror is: site configuration, never recipe content. STRATA_DEBIAN_MIRROR
// wins; otherwise the host's apt sources are read (sources.list(5): one-line *.list files
// and deb822 *.sources files).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace strata::builder::debian {

/// One entry of the apt sources: one type, one URI, one suite. Value type.
struct AptSource {
  std::string type;                        // "deb" or "deb-src"
  std::string uri;                         // without a trailing '/'
  std::string suite;                       // "bookworm", "bookworm-updates", "./" ...
  std::vector<std::string> components;
  std::vector<std::string> architectures;  // from arch= / Architectures:, may be empty
  std::string signed_by;                   // keyring path(s) or inline key block; may be empty
  std::string origin;                      // "file:line" it came from
};

/// Reads every enabled entry of <root>/etc/apt/sources.list and then of
/// <root>/etc/apt/sources.list.d/*.list and *.sources in name order (as apt does), in file
/// order. Missing files are fine; malformed lines are InvalidInput naming file:line.
/// Thread-safe.
std::vector<AptSource> read_apt_sources(const std::filesystem::path& root = "/");

/// Parses one-line-format text ("deb [opts] uri suite comp..."), `origin` names the file.
std::vector<AptSource> parse_sources_list(std::string_view text, const std::string& origin);

/// Parses deb822-format text (Types/URIs/Suites/Components/Signed-By/Enabled/...).
std::vector<AptSource> parse_sources_deb822(std::string_view text, const std::string& origin);

/// Whether a suite names a Debian release itself (a codename such as "trixie", or
/// stable/testing/unstable/oldstable/...), as opposed to security, updates, backports or
/// another distribution's suite.
bool is_debian_release_suite(std::string_view suite);

/// The mirror strata fetches Debian packages from. Value type.
struct DebianMirror {
  std::string uri;        // e.g. "http://host/debian", no trailing '/'
  std::string signed_by;  // keyring from the apt source, if any
  std::string origin;     // "STRATA_DEBIAN_MIRROR" or "file:line"
};

/// Finds the mirror: `env_value` (the value of STRATA_DEBIAN_MIRROR) when set and
/// non-empty, else the first "deb" entry of the apt sources under `root` whose suite is a
/// Debian release (is_debian_release_suite) and whose URI is http, https or file.
/// Throws NotFound with advice to set STRATA_DEBIAN_MIRROR when there is none. Thread-safe.
DebianMirror find_debian_mirror(const std::filesystem::path& root,
                                const std::optional<std::string>& env_value);

/// Same, reading STRATA_DEBIAN_MIRROR from the environment (getenv: not safe against a
/// concurrent setenv).
DebianMirror find_debian_mirror(const std::filesystem::path& root = "/");

}  // namespace strata::builder::debian
