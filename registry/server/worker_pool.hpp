// The registry's connection workers: an httplib::TaskQueue that starts with a few threads
// and adds one whenever a connection arrives while every thread is busy, up to a cap.
//
// httplib serves one connection per thread for the connection's whole life, idle
// keep-alive time included. With a fixed pool, N clients that each keep a connection open
// hold every thread, and the next client waits until one of them times out (seconds),
// which is what 16 clients pulling at once against 8 threads looked like: 20 s instead
// of 2. Growing on demand keeps the cost of an idle server at the initial threads while a
// burst of clients is served at once. Threads are never retired (an idle thread costs a
// stack reservation, little resident memory); all are joined at shutdown.
#pragma once

#include <httplib.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace strata::registry {

/// A growing thread pool for httplib::Server. Thread-safe (httplib calls enqueue() from its
/// accept loop and shutdown() once when it stops).
class WorkerPool final : public httplib::TaskQueue {
 public:
  /// Starts `initial` threads (at least 1); grows up to `max` (at least `initial`).
  WorkerPool(std::size_t initial, std::size_t max);
  ~WorkerPool() override;
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Queues a connection; adds a thread when none is idle and the cap allows it.
  void enqueue(std::function<void()> fn) override;
  /// Lets the queued work finish, then joins every thread. Idempotent.
  void shutdown() override;
  /// Threads started so far (for tests).
  [[nodiscard]] std::size_t threads() const;

 private:
  void spawn();  // caller holds m_mutex
  void work();

  const std::size_t m_max;
  mutable std::mutex m_mutex;
  std::condition_variable m_wake;
  std::deque<std::function<void()>> m_jobs;
  std::vector<std::thread> m_threads;
  std::size_t m_idle = 0;
  bool m_shutdown = false;
};

}  // namespace strata::registry
