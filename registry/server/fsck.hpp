// Consistency check of a registry root (`strata registry fsck`): re-hashes every blob and
// checks every manifest's references, every tag, referrer and upload session. Read-only;
// may run while a server uses the root (a change made meanwhile can show up as a problem
// that a second run no longer reports).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace strata::registry {

/// How bad a finding is. Errors are data a client would miss or get wrong; notices are
/// leftovers that the server or `strata registry gc` clean up on their own.
enum class FsckSeverity { Error, Notice };

/// One finding. Plain value.
struct FsckProblem {
  FsckSeverity severity = FsckSeverity::Error;
  std::string kind;     // stable slug: "blob-corrupt", "reference-missing", ...
  std::string repo;     // empty for store-wide findings
  std::string digest;   // the object concerned (blob, manifest, upload id)
  std::string message;  // what is wrong and what to do
};

/// What fsck checked and found. Plain value.
struct FsckReport {
  std::uint64_t blobs = 0;  // blob files re-hashed
  std::uint64_t bytes = 0;  // their total size
  std::uint64_t repositories = 0;
  std::uint64_t manifests = 0;
  std::uint64_t links = 0;
  std::uint64_t tags = 0;
  std::uint64_t uploads = 0;
  std::vector<FsckProblem> problems;

  /// Problems of severity Error.
  [[nodiscard]] std::size_t errors() const;
  /// True when there is no Error (notices allowed).
  [[nodiscard]] bool clean() const { return errors() == 0; }
};

/// Checks the registry at `root`:
/// - every blob file hashes to its name (error "blob-corrupt"); odd files under blobs/ are
///   notices ("stray-file");
/// - every link points at a blob in the store ("blob-missing");
/// - every manifest is in the store ("manifest-missing"), parses ("manifest-invalid"),
///   has its recorded size ("manifest-size"), is linked ("manifest-unlinked"), and each of
///   its config/layers/children is in the store ("reference-missing") and linked in its
///   repository ("reference-unlinked");
/// - every tag points at a manifest of its repository ("tag-dangling"), every referrers
///   entry at one ("referrer-dangling");
/// - every upload session has its file with at least the recorded bytes
///   ("upload-file-missing", "upload-truncated"); files in uploads/ without a session are
///   notices ("upload-orphan": the server removes them after --upload-expiry).
/// Throws util::Error NotFound when `root` holds no registry, IO on unreadable storage.
/// Thread-safe (opens its own connections).
FsckReport check_registry(const std::filesystem::path& root);

}  // namespace strata::registry
