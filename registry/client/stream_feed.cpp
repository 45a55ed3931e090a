// LayerFeed and its reader; see stream_feed.hpp for the design.
#include "registry/client/stream_feed.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "util/error.hpp"

namespace strata::registry::client {

using util::ErrorKind;

/// Reads the partial file by offset up to the valid size the feed announces; end of
/// stream only once the feed says the blob is stored. Not thread-safe (one reader).
class LayerFeed::TailSource final : public util::Source {
 public:
  TailSource(LayerFeed& feed, int fd) : m_feed(feed), m_fd(fd) {}
  std::size_t read(void* data, std::size_t size) override {
    if (size == 0) {
      return 0;
    }
    std::uint64_t valid = 0;
    {
      std::unique_lock lock(m_feed.m_mutex);
      m_feed.wait_locked(lock, [&] { return m_feed.m_stored || m_feed.m_valid > m_pos; });
      valid = m_feed.m_valid;
      if (valid <= m_pos) {
        return 0;  // stored and fully read
      }
    }
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(size, valid - m_pos));
    for (;;) {
      const ssize_t n = ::pread(m_fd, data, want, static_cast<off_t>(m_pos));
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        util::fail_errno("read of the partial download");
      }
      if (n == 0) {
        util::fail(ErrorKind::Internal, "partial download shorter than announced");
      }
      m_pos += static_cast<std::uint64_t>(n);
      return static_cast<std::size_t>(n);
    }
  }

 private:
  LayerFeed& m_feed;
  int m_fd;  // owned by the feed
  std::uint64_t m_pos = 0;
};

template <typename Pred>
void LayerFeed::wait_locked(std::unique_lock<std::mutex>& lock, Pred ready) {
  m_cv.wait(lock, [&] { return m_error || ready(); });
  if (m_error) {
    std::rethrow_exception(m_error);
  }
}

void LayerFeed::started(util::Fd fd, std::uint64_t valid) {
  {
    std::lock_guard lock(m_mutex);
    m_fd = std::move(fd);
    m_valid = valid;
    m_started = true;
  }
  m_cv.notify_all();
}

void LayerFeed::wrote(std::uint64_t valid) {
  {
    std::lock_guard lock(m_mutex);
    if (m_cancelled) {
      util::fail(ErrorKind::Conflict, "download stopped: the pull was abandoned");
    }
    m_valid = valid;
  }
  m_cv.notify_all();
}

void LayerFeed::stored() {
  {
    std::lock_guard lock(m_mutex);
    m_stored = true;
  }
  m_cv.notify_all();
}

void LayerFeed::failed(std::exception_ptr error) {
  {
    std::lock_guard lock(m_mutex);
    if (!m_stored) {
      m_error = std::move(error);
    }
  }
  m_cv.notify_all();
}

bool LayerFeed::cancelled() const {
  std::lock_guard lock(m_mutex);
  return m_cancelled;
}

void LayerFeed::cancel() {
  {
    std::lock_guard lock(m_mutex);
    m_cancelled = true;
  }
  m_cv.notify_all();
}

std::unique_ptr<util::Source> LayerFeed::open(const cache::Store& store, const oci::Digest& digest) {
  std::unique_lock lock(m_mutex);
  wait_locked(lock, [&] { return m_started || m_stored; });
  if (m_started && m_fd) {
    return std::make_unique<TailSource>(*this, m_fd.get());
  }
  lock.unlock();
  return store.open_blob(digest);
}

void LayerFeed::wait_stored() {
  std::unique_lock lock(m_mutex);
  wait_locked(lock, [&] { return m_stored; });
}

void FeedingSink::write(const void* data, std::size_t size) {
  if (m_limit != 0 && m_written + size > m_limit) {
    util::fail(ErrorKind::Corruption, "the registry sent more than the " +
                                          std::to_string(m_limit) +
                                          " bytes the manifest gives for this blob");
  }
  m_out.write(data, size);
  m_hasher.update(data, size);
  m_written += size;
  if (m_feed != nullptr) {
    m_feed->wrote(m_written);
  }
}

}  // namespace strata::registry::client
