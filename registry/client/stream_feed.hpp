// Streaming a layer while it downloads: the download thread appends the blob's bytes to
// the store's partial file <store>/tmp/partial-<hex> and announces, through a LayerFeed,
// how many bytes of that file are valid; the unpack thread reads the same file through a
// second descriptor (pread, "tail -f" style), waiting on a condition variable whenever it
// has caught up with the download. No other copy of the blob is written: the partial file
// itself becomes the store blob once its digest has been checked (Store::adopt_blob).
//
// The reader reports end of stream only after the download thread has verified the digest
// and published the blob; a failed download (digest or size mismatch, network error after
// the retries) is rethrown to the reader instead, so the unpacker stops with that error.
// When the blob is already in the store, or was published before the reader started, the
// reader simply streams the store's blob.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>

#include "cache/store.hpp"
#include "oci/digest.hpp"
#include "oci/image.hpp"
#include "util/fd.hpp"
#include "util/hash.hpp"
#include "util/io.hpp"

namespace strata::registry::client {

/// The hand-over of one blob between its download thread and one reader. All methods are
/// thread-safe; the object must outlive every Source opened from it. Not copyable.
class LayerFeed {
 public:
  LayerFeed() = default;
  LayerFeed(const LayerFeed&) = delete;
  LayerFeed& operator=(const LayerFeed&) = delete;

  // --- download side -------------------------------------------------------------------
  /// The partial file is open (and locked) and its first `valid` bytes are the blob's.
  /// `fd` is a readable descriptor of it; the feed takes ownership.
  void started(util::Fd fd, std::uint64_t valid);
  /// The partial file now holds `valid` bytes of the blob (monotonic, except that a
  /// restarted download may go back to 0 before a reader saw anything). Throws Conflict
  /// when the reader cancelled the feed, which stops the download.
  void wrote(std::uint64_t valid);
  /// The blob is verified and in the store.
  void stored();
  /// The download failed; readers rethrow `error`.
  void failed(std::exception_ptr error);
  /// True when cancel() was called.
  [[nodiscard]] bool cancelled() const;

  // --- reader side ---------------------------------------------------------------------
  /// A stream over the blob: the growing partial file, or the store's blob when the blob
  /// is already published. Blocks until the download started, finished or failed.
  /// Rethrows the download's error. Call at most once.
  std::unique_ptr<util::Source> open(const cache::Store& store, const oci::Digest& digest);
  /// Blocks until the blob is verified and stored; rethrows the download's error.
  void wait_stored();
  /// Tells the download to stop at its next write (the pull is being abandoned).
  void cancel();

 private:
  class TailSource;
  // Waits until `ready` holds for the state; rethrows a download failure. Lock held.
  template <typename Pred>
  void wait_locked(std::unique_lock<std::mutex>& lock, Pred ready);

  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  util::Fd m_fd;               // readable descriptor of the partial file, once started
  std::uint64_t m_valid = 0;   // valid bytes in the partial file
  bool m_started = false;
  bool m_stored = false;
  bool m_cancelled = false;
  std::exception_ptr m_error;
};

/// A sink that appends to the partial file and announces each write to a feed (if any),
/// hashing the bytes on the way. Not thread-safe.
class FeedingSink final : public util::Sink {
 public:
  /// Writes to `fd` (not owned) named `name`; `feed` may be null.
  /// `limit` is the blob's size from the manifest: a server sending more fails with
  /// Corruption before the excess reaches the file (0: no limit).
  FeedingSink(int fd, std::string name, util::Hasher& hasher, std::uint64_t& written,
              std::uint64_t limit, LayerFeed* feed)
      : m_out(fd, std::move(name)),
        m_hasher(hasher),
        m_written(written),
        m_limit(limit),
        m_feed(feed) {}
  using Sink::write;
  void write(const void* data, std::size_t size) override;

 private:
  util::FdSink m_out;
  util::Hasher& m_hasher;
  std::uint64_t& m_written;  // bytes of the file hashed so far (owned by the caller)
  std::uint64_t m_limit;
  LayerFeed* m_feed;
};

class RegistryClient;

/// download_blob() that also feeds `feed` (may be null) while it downloads: the blob is
/// appended to <store>/tmp/partial-<hex> (resumed with Range), hashed as it arrives and
/// adopted into the store when its digest matches (Corruption otherwise: the partial file
/// is removed and nothing is stored). Calls feed->stored() or feed->failed() before it
/// returns or throws. Returns true when it downloaded, false when the store had the blob.
bool download_blob_fed(RegistryClient& client, const std::string& repo,
                       const oci::Descriptor& descriptor, cache::Store& store, LayerFeed* feed);

}  // namespace strata::registry::client
