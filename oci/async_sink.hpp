// A Sink that hands its bytes to another Sink on a thread of its own.
//
// The layer writer uses it between the tar stage (walk, read, tar headers, diff_id hash) and
// the compression stage (zstd/gzip, blob hash, output), so that reading and hashing the
// input overlaps with feeding the compressor, as `tar | zstd` overlaps two processes.
// Bytes are copied into fixed chunks and queued; at most `depth` chunks wait, so memory is
// bounded (chunk * (depth + 2)) and a slow consumer blocks the producer. An exception
// thrown by the next sink is rethrown to the producer at its next write() or at finish().
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "util/io.hpp"

namespace strata::oci {

/// See the file comment. write() and finish() must be called from one producer thread;
/// `next` is only used by the internal thread until finish() returns, and must outlive this.
/// Destroying it without finish() drops queued bytes and stops the thread.
class AsyncSink final : public util::Sink {
 public:
  explicit AsyncSink(util::Sink& next, std::size_t chunk = std::size_t{1} << 20,
                     std::size_t depth = 8);
  AsyncSink(const AsyncSink&) = delete;
  AsyncSink& operator=(const AsyncSink&) = delete;
  ~AsyncSink() override;

  using util::Sink::write;
  void write(const void* data, std::size_t size) override;
  /// Hands over what is buffered, waits until `next` has received everything, stops the
  /// thread and rethrows its error if any.
  void finish();

 private:
  void push_current();
  void run();
  void stop() noexcept;
  void rethrow_locked();

  util::Sink& m_next;
  std::size_t m_chunk;
  std::size_t m_depth;
  std::vector<char> m_current;
  std::mutex m_mutex;
  std::condition_variable m_has_items;
  std::condition_variable m_has_space;
  std::deque<std::vector<char>> m_queue;
  std::vector<std::vector<char>> m_spare;  // recycled chunks
  bool m_closed = false;   // producer is done (finish or destruction)
  bool m_abort = false;    // drop what is queued
  bool m_finished = false;
  std::exception_ptr m_error;
  std::thread m_thread;    // last: starts once everything above exists
};

}  // namespace strata::oci
