// A Source that decompresses another Source on a background thread.
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

/// Reads `inner` on its own thread, detects gzip (1f 8b) or zstd (28 b5 2f fd) by magic
/// and decompresses it (other data passes through unchanged), handing the bytes over
/// through a bounded queue of 1 MiB chunks. This overlaps decompression with whatever the
/// reader does, as `zstd -dc | tar -x` does with two processes. An error of `inner` or of
/// the decompressor is rethrown by read(). `inner` must not be used by anyone else until
/// this object is destroyed; the destructor stops and joins the thread. read() is meant
/// for one consumer thread.
class PipelinedDecompressor final : public util::Source {
 public:
  explicit PipelinedDecompressor(util::Source& inner);
  PipelinedDecompressor(const PipelinedDecompressor&) = delete;
  PipelinedDecompressor& operator=(const PipelinedDecompressor&) = delete;
  ~PipelinedDecompressor() override;

  std::size_t read(void* data, std::size_t size) override;

  /// Reads `inner` to its end (after the consumer is done) so a verifying source can
  /// check what it promised; rethrows its error.
  void drain();

 private:
  void run() noexcept;
  void produce();
  void push(std::vector<char> chunk);  // returns quietly when stopping

  util::Source& m_inner;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::deque<std::vector<char>> m_queue;
  bool m_done = false;      // producer finished (m_error may be set)
  bool m_stopping = false;  // consumer went away
  bool m_drain = false;     // consumer asked to read the rest of inner
  std::exception_ptr m_error;
  std::vector<char> m_current;
  std::size_t m_offset = 0;
  std::thread m_thread;
};

}  // namespace strata::oci
