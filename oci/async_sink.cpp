#include "oci/async_sink.hpp"

#include <algorithm>
#include <cstring>

#include "util/error.hpp"

namespace strata::oci {

AsyncSink::AsyncSink(util::Sink& next, std::size_t chunk, std::size_t depth)
    : m_next(next),
      m_chunk(std::max<std::size_t>(chunk, 4096)),
      m_depth(std::max<std::size_t>(depth, 1)) {
  m_current.reserve(m_chunk);
  m_thread = std::thread([this] { run(); });
}

AsyncSink::~AsyncSink() { stop(); }

void AsyncSink::stop() noexcept {
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (!m_finished) {
      m_abort = true;
    }
    m_closed = true;
  }
  m_has_items.notify_all();
  m_has_space.notify_all();
  if (m_thread.joinable()) {
    m_thread.join();
  }
}

void AsyncSink::rethrow_locked() {
  if (m_error) {
    std::exception_ptr e = m_error;
    m_abort = true;
    std::rethrow_exception(e);
  }
}

void AsyncSink::push_current() {
  std::unique_lock<std::mutex> lock(m_mutex);
  m_has_space.wait(lock, [this] { return m_queue.size() < m_depth || m_error; });
  rethrow_locked();
  m_queue.push_back(std::move(m_current));
  if (!m_spare.empty()) {
    m_current = std::move(m_spare.back());
    m_spare.pop_back();
  } else {
    m_current = std::vector<char>();
    m_current.reserve(m_chunk);
  }
  m_current.clear();
  lock.unlock();
  m_has_items.notify_one();
}

void AsyncSink::write(const void* data, std::size_t size) {
  if (m_closed) {
    util::fail(util::ErrorKind::Internal, "async sink: write after finish");
  }
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const std::size_t n = std::min(size, m_chunk - m_current.size());
    m_current.insert(m_current.end(), p, p + n);
    p += n;
    size -= n;
    if (m_current.size() == m_chunk) {
      push_current();
    }
  }
}

void AsyncSink::finish() {
  if (m_finished) {
    return;
  }
  if (!m_current.empty()) {
    push_current();
  }
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_closed = true;
  }
  m_has_items.notify_all();
  m_thread.join();
  std::lock_guard<std::mutex> lock(m_mutex);
  m_finished = true;
  rethrow_locked();
}

void AsyncSink::run() {
  std::vector<char> chunk;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(m_mutex);
      if (chunk.capacity() > 0) {  // recycle the chunk just written
        chunk.clear();
        m_spare.push_back(std::move(chunk));
        chunk = std::vector<char>();
      }
      m_has_items.wait(lock, [this] { return !m_queue.empty() || m_closed || m_abort; });
      if (m_abort || (m_queue.empty() && m_closed)) {
        return;
      }
      chunk = std::move(m_queue.front());
      m_queue.pop_front();
    }
    m_has_space.notify_one();
    try {
      m_next.write(chunk.data(), chunk.size());
    } catch (...) {
      std::lock_guard<std::mutex> lock(m_mutex);
      m_error = std::current_exception();
      m_has_space.notify_all();
      return;
    }
  }
}

}  // namespace strata::oci
