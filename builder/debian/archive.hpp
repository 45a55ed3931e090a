// A Debian archive opened for resolution: the verified InRelease of one suite, the
// Packages indexes of the requested components and architectures (kept in the store by
// digest), and the packages they list. Also fetches the .debs of a resolution.
//
// Trust chain: InRelease is verified by gpgv against the keyrings (release.hpp), its
// Valid-Until is checked, and every index and .deb is checked against the hash that the
// level above lists (Release SHA256 list -> index, index SHA256 -> .deb) while it streams
// into the store (fetch.hpp). See docs/debian.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "builder/debian/fetch.hpp"
#include "builder/debian/package.hpp"
#include "builder/debian/release.hpp"
#include "builder/debian/universe.hpp"
#include "cache/store.hpp"
#include "oci/digest.hpp"

namespace strata::builder::debian {

/// The keyring trusted when none is given.
inline constexpr const char* k_debian_archive_keyring =
    "/usr/share/keyrings/debian-archive-keyring.gpg";

/// What to open. Plain value.
struct ArchiveOptions {
  /// Mirror base URI ("http://host/debian", "file:///srv/mirror"), from
  /// find_debian_mirror() or explicit; a trailing '/' is ignored. Required.
  std::string mirror;
  /// Suite or codename ("trixie", "stable"). Required.
  std::string suite;
  std::vector<std::string> components{"main"};
  /// Architectures whose binary-ARCH indexes are read (e.g. {"amd64"}; arch "all"
  /// packages are listed in those). Required, at least one.
  std::vector<std::string> architectures;
  /// Keyrings trusted for the InRelease signature.
  std::vector<std::filesystem::path> keyrings{k_debian_archive_keyring};
  /// gpgv program (PATH lookup when it has no '/').
  std::string gpgv = "gpgv";
  /// Accept an archive without a valid signature (InRelease content taken unverified, or
  /// a plain Release file). Indexes and .debs are still hash-checked.
  bool allow_unsigned = false;
  /// Accept a Release whose Valid-Until has passed (snapshot archives, locked builds).
  bool ignore_valid_until = false;
  /// "Now" for Valid-Until (Unix seconds); unset = the system clock.
  std::optional<std::int64_t> now;
  /// The InRelease a lock recorded: taken from the store without any download when the
  /// store holds it; otherwise downloaded and required to have this digest (Conflict
  /// when the mirror has moved on). Its signature is verified in both cases.
  std::optional<oci::Digest> pinned_inrelease;
  /// How downloads run.
  FetchOptions fetch;
};

/// One Packages index that was read. Value type.
struct ArchiveIndex {
  std::string component;
  std::string architecture;
  std::string path;  // as listed in Release, e.g. "main/binary-amd64/Packages.xz"
  std::string url;   // where it was (or would have been) fetched
  oci::Digest digest;
  std::uint64_t size = 0;
  bool downloaded = false;  // false: it was already in the store
  std::size_t packages = 0;
};

/// An opened archive. Immutable after open(); safe to share between threads for reading.
class Archive {
 public:
  /// Fetches and verifies InRelease, fetches the indexes not yet in the store (in
  /// parallel), parses them. Errors name the URL and say what to do: Unauthorized (bad or
  /// unknown signature, unsigned archive without allow_unsigned), InvalidInput (expired
  /// Valid-Until, malformed files), NotFound (suite, component or architecture not in the
  /// archive), Corruption (an index does not match the Release SHA256 list; nothing is
  /// stored), Conflict (pinned_inrelease differs from what the mirror serves), Timeout.
  static Archive open(cache::Store& store, const ArchiveOptions& options);

  /// The verified Release fields.
  [[nodiscard]] const Release& release() const noexcept { return m_release; }
  /// Digest of the InRelease (or unsigned Release) file, kept in the store; for the lock.
  [[nodiscard]] const oci::Digest& inrelease_digest() const noexcept { return m_inrelease; }
  /// Release Date (Unix seconds); for the lock and SOURCE_DATE_EPOCH.
  [[nodiscard]] std::int64_t date() const noexcept { return m_release.date; }
  /// Whether a signature was verified (false only with allow_unsigned).
  [[nodiscard]] bool signed_by_trusted_key() const noexcept { return m_verified; }
  /// Whether InRelease came from the store (pinned) rather than the network.
  [[nodiscard]] bool inrelease_from_store() const noexcept { return m_inrelease_from_store; }
  /// Mirror base URI without a trailing '/'.
  [[nodiscard]] const std::string& mirror() const noexcept { return m_mirror; }
  /// The indexes read, in components x architectures order.
  [[nodiscard]] const std::vector<ArchiveIndex>& indexes() const noexcept { return m_indexes; }
  /// Every package of those indexes, in index order; Package::archive is
  /// "<codename or suite>/<component>", e.g. "trixie/main".
  [[nodiscard]] const std::vector<Package>& packages() const noexcept { return m_packages; }
  /// A Universe of packages() (builds it; keep the result).
  [[nodiscard]] Universe universe() const { return Universe(m_packages); }
  /// Counters of the downloads made by open().
  [[nodiscard]] const FetchStats& fetch_stats() const noexcept { return m_stats; }

 private:
  Archive() = default;
  std::string m_mirror;
  Release m_release;
  oci::Digest m_inrelease;
  bool m_verified = false;
  bool m_inrelease_from_store = false;
  std::vector<ArchiveIndex> m_indexes;
  std::vector<Package> m_packages;
  FetchStats m_stats;
};

/// Media types recorded in the store for what this module downloads.
inline constexpr const char* k_media_type_inrelease = "application/vnd.debian.inrelease";
inline constexpr const char* k_media_type_packages = "application/vnd.debian.packages-index";
inline constexpr const char* k_media_type_deb = "application/vnd.debian.binary-package";

/// The download item of a package's .deb: URL mirror/Filename, digest from SHA256, size.
FetchItem deb_fetch_item(const std::string& mirror, const Package& package);

/// Fetches the .debs of `packages` from `mirror` into the store (in parallel, verified
/// against each package's SHA256 and Size; ones already present are not downloaded).
/// Results are in input order. Throws as Fetcher::fetch; InvalidInput for a package
/// without Filename or SHA256. `stats`, when given, receives the fetcher's counters.
std::vector<FetchResult> fetch_debs(cache::Store& store, const std::string& mirror,
                                    const std::vector<Package>& packages,
                                    const FetchOptions& options = {},
                                    FetchStats* stats = nullptr);

}  // namespace strata::builder::debian
