// The registry's growing worker pool: a burst of long-running connections is served at
// once (threads are added while every thread is busy), up to the cap, and shutdown runs
// what was queued and joins every thread.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "registry/server/worker_pool.hpp"

using strata::registry::WorkerPool;

namespace {

/// Jobs that block until released, counting how many run at the same time.
struct Gate {
  std::mutex mutex;
  std::condition_variable cv;
  int running = 0;
  int peak = 0;
  bool open = false;

  void job() {
    std::unique_lock lock(mutex);
    ++running;
    peak = std::max(peak, running);
    cv.notify_all();
    cv.wait(lock, [this] { return open; });
    --running;
  }
  /// Waits (up to 5 s) until `n` jobs run at once.
  bool wait_running(int n) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, std::chrono::seconds(5), [&] { return running >= n; });
  }
  void release() {
    std::lock_guard lock(mutex);
    open = true;
    cv.notify_all();
  }
};

}  // namespace

TEST_CASE("the worker pool grows while every thread is busy", "[registry]") {
  Gate gate;
  WorkerPool pool(2, 64);
  CHECK(pool.threads() == 2);
  for (int i = 0; i < 12; ++i) {
    pool.enqueue([&gate] { gate.job(); });
  }
  CHECK(gate.wait_running(12));  // a fixed pool of 2 would run 2
  CHECK(pool.threads() >= 12);
  CHECK(pool.threads() <= 14);
  gate.release();
  pool.shutdown();
  CHECK(gate.running == 0);
}

TEST_CASE("the worker pool stops growing at its cap and runs the rest later", "[registry]") {
  Gate gate;
  std::atomic<int> done{0};
  {
    WorkerPool pool(1, 3);
    for (int i = 0; i < 8; ++i) {
      pool.enqueue([&] {
        gate.job();
        ++done;
      });
    }
    CHECK(gate.wait_running(3));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(pool.threads() == 3);
    {
      std::lock_guard lock(gate.mutex);
      CHECK(gate.peak == 3);
    }
    gate.release();
  }  // the destructor shuts down after running every queued job
  CHECK(done == 8);
}
