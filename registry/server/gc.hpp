// Garbage collection of a registry root (`strata registry gc`), safe while a server on the
// same root keeps serving pushes and pulls. The algorithm and its safety argument are at
// the top of gc.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace strata::registry {

/// How to collect. Plain value.
struct GcOptions {
  std::filesystem::path root;  // the registry root (holds registry.db)
  /// Nothing linked, uploaded, mounted, checked (HEAD/GET) or stored within this period
  /// is removed: it covers a push whose blobs are uploaded but whose manifest is not yet
  /// PUT. Keep it longer than your slowest push.
  std::chrono::seconds grace = std::chrono::hours(1);
  /// Untagged manifests younger than this are kept (and everything they reference).
  std::chrono::seconds untagged_retention = std::chrono::hours(24);
  bool dry_run = false;  // report what would go, change nothing
  /// "Now" in Unix seconds; unset = the system clock. Tests inject it.
  std::optional<std::int64_t> now;
  /// Links and store blobs removed per transaction (pushes wait at most one batch).
  std::size_t batch = 64;
  /// How long GC waits before unlinking the files it moved aside, re-checking that no
  /// push linked one of them meanwhile (see gc.cpp, "Store sweep").
  std::chrono::milliseconds settle = std::chrono::milliseconds(1000);
  /// Test hook: called with a repository's name after its mark and before its sweep, so
  /// that tests can push while GC holds a stale mark. Empty in production.
  std::function<void(const std::string& repo)> after_mark;
};

/// One removed (or, with dry_run, removable) object.
struct GcItem {
  std::string repo;  // empty for store blobs
  std::string digest;
  std::uint64_t size = 0;  // bytes (manifests and store blobs; 0 for links)
};

/// What a GC run did. Plain value.
struct GcReport {
  std::size_t repositories = 0;         // repositories examined
  std::size_t live_manifests = 0;       // manifests kept
  std::vector<GcItem> manifests;        // untagged manifests removed from their repository
  std::vector<GcItem> links;            // blob links removed from repositories
  std::vector<GcItem> blobs;            // blobs removed from the store (no repository left)
  std::uint64_t bytes = 0;              // total size of `blobs`
  std::vector<std::string> repositories_removed;  // left with nothing
  std::size_t restored = 0;             // blobs put back because a push linked them meanwhile
  std::vector<std::string> warnings;    // repositories skipped, and why
};

/// Marks from tags, young untagged manifests, index children and live referrers, then
/// removes the rest outside the grace period in small transactions (see gc.cpp). Opens
/// its own connections, so it may run in another process than the server. Throws
/// util::Error: NotFound when `root` holds no registry, IO/Timeout on storage errors.
/// Not thread-safe with another collect_garbage on the same root (the second one only
/// wastes work: every removal re-checks its condition).
GcReport collect_garbage(const GcOptions& options);

}  // namespace strata::registry
