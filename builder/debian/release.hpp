// Release / InRelease files (dists/SUITE/InRelease): the signed root of trust of a Debian
// archive. The signature is checked by gpgv; only the content gpgv reports as signed is
// parsed; every index downloaded afterwards is checked against the SHA256 list.
// Every function here is thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/io.hpp"

namespace strata::builder::debian {

/// One line of the Release SHA256 list: "<hex> <size> <path>". Value type.
struct ReleaseFile {
  std::string path;  // relative to dists/SUITE/, e.g. "main/binary-amd64/Packages.xz"
  std::uint64_t size = 0;
  std::string sha256;  // lower-case hex
};

/// A parsed Release file. Value type.
struct Release {
  std::string origin;
  std::string label;
  std::string suite;
  std::string codename;
  std::string version;
  std::int64_t date = 0;                   // Unix time of "Date"
  std::optional<std::int64_t> valid_until; // Unix time of "Valid-Until", if present
  std::vector<std::string> architectures;
  std::vector<std::string> components;
  bool acquire_by_hash = false;
  std::vector<ReleaseFile> sha256;         // in file order

  /// The SHA256 entry for an index path, or nullptr.
  [[nodiscard]] const ReleaseFile* find(std::string_view path) const noexcept;
  /// Where an index can be fetched by hash ("main/binary-amd64/by-hash/SHA256/<hex>")
  /// when acquire_by_hash is set; otherwise the path itself.
  [[nodiscard]] std::string fetch_path(const ReleaseFile& file) const;
};

/// Parses the (already verified) text of a Release file. `origin` (URL or path) names it in
/// messages. Requires Date (or Valid-Until is meaningless) and a SHA256 list; throws
/// InvalidInput "<origin>:<line>: ...".
Release parse_release(std::string_view text, std::string_view origin);

/// Parses an RFC 2822 date as Release files write it ("Sat, 10 Jun 2023 08:55:30 UTC",
/// zones UTC/GMT/UT/Z or +hhmm/-hhmm, weekday optional, seconds optional) into Unix time.
/// Throws InvalidInput naming the text.
std::int64_t parse_rfc2822_date(std::string_view text);

/// Formats Unix time as "YYYY-MM-DD hh:mm:ss UTC" for messages.
std::string format_utc(std::int64_t unix_time);

/// Checks Valid-Until against `now` (Unix time). An expired Release is InvalidInput naming
/// `url` and the expiry date, unless `allow_expired` (snapshot archives) is set. A Date in
/// the future is accepted (clock skew is the mirror's business, as apt defaults).
void check_valid_until(const Release& release, std::int64_t now, bool allow_expired,
                       std::string_view url);

/// Checks that a downloaded index matches the SHA256 list: `path` must be listed (else
/// NotFound), and the stream's size and SHA-256 must match (else Corruption naming `path`
/// and `url`). Reads the source to its end.
void verify_index(const Release& release, std::string_view path, util::Source& content,
                  std::string_view url);
/// Same for a file on disk.
void verify_index_file(const Release& release, std::string_view path,
                       const std::filesystem::path& file, std::string_view url);

/// How gpgv is run.
struct GpgvOptions {
  /// Keyrings to trust (binary OpenPGP keyrings, e.g. debian-archive-keyring.gpg).
  std::vector<std::filesystem::path> keyrings;
  /// The program; looked up in PATH when it has no '/'.
  std::string program = "gpgv";
};

/// Verifies a clearsigned InRelease file with `gpgv --keyring K... --output OUT
/// --status-fd N` (fork/exec, no shell) and returns ONLY what gpgv wrote to OUT: the
/// content covered by a good signature, never text around it. Succeeds when at least one
/// signature is good and valid and none is bad. Errors name `url`: Unauthorized for
/// "bad signature", "unknown key <id>", "expired key/signature", "revoked key" and "not
/// signed"; NotFound when gpgv or a keyring is missing; IO when gpgv cannot run.
/// Thread-safe (uses its own temporary directory).
std::string verify_inrelease(const std::filesystem::path& inrelease, const GpgvOptions& options,
                             std::string_view url);

/// Extracts the text of a clearsigned message WITHOUT checking the signature (dash-escapes
/// undone). Only for archives the user explicitly marked as unsigned; throws InvalidInput
/// when the text is not a clearsigned message.
std::string clearsigned_content_unverified(std::string_view text, std::string_view url);

}  // namespace strata::builder::debian
