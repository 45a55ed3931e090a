// Parallel, verified downloads into the content-addressed store (libcurl multi).
//
// Every download names the digest (and usually the size) it must have: bytes are hashed
// while they stream into a cache::BlobWriter, and the blob is published only when the
// digest matches, so a bad mirror can never put anything into the store. Blobs already in
// the store are not downloaded again. Transient failures (connection errors, timeouts, a
// cut connection, HTTP 5xx/408/429) are retried with exponential backoff and seeded jitter;
// a transfer that broke after some bytes resumes with an HTTP Range request instead of
// starting over. Nothing here is Debian-specific except the file it lives in: the
// downloader is used for archive indexes and .debs (see docs/debian.md).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cache/store.hpp"
#include "oci/digest.hpp"

namespace strata::builder::debian {

/// One file to download. Value type.
struct FetchItem {
  std::string url;
  /// The content it must have (sha256 or sha512). Required.
  oci::Digest digest;
  /// The size it must have, when known (checked while streaming: a longer body is cut).
  std::optional<std::uint64_t> size;
  /// Media type recorded in the store for a new blob.
  std::string media_type = "application/octet-stream";
  /// What it is, for messages (an index path, "hello 2.10-3 (amd64)"); may be empty.
  std::string name;
};

/// Where a download stands; passed to FetchOptions::progress.
struct FetchProgress {
  std::size_t completed = 0;         // items finished (downloaded or found in the store)
  std::size_t total = 0;             // items in this call
  std::uint64_t bytes = 0;           // bytes received in this call so far (all attempts)
  std::uint64_t expected_bytes = 0;  // sum of the known sizes of the items to download
  std::string url;                   // the transfer that triggered this report ("" if none)
};

/// How downloads run. Plain value.
struct FetchOptions {
  /// Transfers running at once (at least 1).
  std::size_t parallel = 8;
  /// Attempts per file, the first one included (at least 1).
  int max_attempts = 5;
  /// Backoff before retry k (k = 1, 2, ...): min(backoff_max, backoff_initial * 2^(k-1)),
  /// multiplied by a factor drawn uniformly from [0.5, 1) (jitter, so that many clients
  /// do not retry in step).
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30000};
  /// Seed of the jitter generator; unset = random. Tests fix it.
  std::optional<std::uint64_t> jitter_seed;
  /// Connection timeout per attempt.
  std::chrono::seconds connect_timeout{30};
  /// An attempt that receives less than low_speed_bytes per second for low_speed_time is
  /// abandoned (and retried): this catches stalled connections without limiting big files.
  std::uint32_t low_speed_bytes = 1024;
  std::chrono::seconds low_speed_time{60};
  /// Called from the thread running fetch(), on each finished item and at most every
  /// 200 ms while bytes arrive. Must not throw.
  std::function<void(const FetchProgress&)> progress;
  std::string user_agent = "strata";
};

/// The outcome for one item.
struct FetchResult {
  oci::Digest digest;
  std::uint64_t size = 0;
  /// False when the blob was already in the store (its last use was refreshed instead).
  bool downloaded = false;
  /// Attempts used (0 when it was in the store).
  int attempts = 0;
  /// With Fetcher::fetch_each: the failure of this item, if any (a util::Error).
  std::exception_ptr error;
};

/// Counters over the life of a Fetcher.
struct FetchStats {
  std::uint64_t requests = 0;    // HTTP (or file:) requests started, retries included
  std::uint64_t downloaded = 0;  // blobs published into the store
  std::uint64_t reused = 0;      // items found in the store, not downloaded
  std::uint64_t bytes = 0;       // body bytes received
  std::uint64_t retries = 0;     // attempts after the first
  std::uint64_t resumed = 0;     // attempts that continued with a Range request
};

/// Downloads files into a store. Not thread-safe: one thread uses one Fetcher (it runs
/// its transfers itself, in the calling thread); distinct Fetchers may run in parallel.
/// The store must outlive it.
class Fetcher {
 public:
  Fetcher(cache::Store& store, FetchOptions options = {});
  ~Fetcher();
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  /// Downloads every item not already in the store, `parallel` at a time, and returns
  /// one result per item in input order (items with the same digest are downloaded
  /// once). Every transfer runs to its end even when another fails; then the first
  /// failure in item order is thrown: Corruption (digest or size mismatch; nothing
  /// stored) naming the URL, the item, the expected and the actual digest; NotFound for
  /// HTTP 404/410 or a missing file: URL; Unauthorized for 401/403; Timeout when the
  /// retries are exhausted on transient failures; IO for other errors. Every message
  /// names the URL.
  std::vector<FetchResult> fetch(const std::vector<FetchItem>& items);

  /// Same, but never throws for an item: failures are in FetchResult::error.
  std::vector<FetchResult> fetch_each(const std::vector<FetchItem>& items);

  /// Downloads a small file whose digest is not known in advance (an InRelease) into
  /// memory, with the same retries. Throws as fetch(); InvalidInput when the body is
  /// larger than `max_size`.
  std::string get(const std::string& url, std::uint64_t max_size = 64ULL << 20);

  /// Counters since construction.
  [[nodiscard]] const FetchStats& stats() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> m_impl;
};

}  // namespace strata::builder::debian
