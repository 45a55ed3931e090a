#include "registry/server/worker_pool.hpp"

#include <algorithm>

namespace strata::registry {

WorkerPool::WorkerPool(std::size_t initial, std::size_t max)
    : m_max(std::max<std::size_t>({initial, max, 1})) {
  std::lock_guard lock(m_mutex);
  for (std::size_t i = 0; i < std::max<std::size_t>(initial, 1); ++i) {
    spawn();
  }
}

WorkerPool::~WorkerPool() { shutdown(); }

void WorkerPool::spawn() {
  m_threads.emplace_back([this] { work(); });
}

void WorkerPool::enqueue(std::function<void()> fn) {
  {
    std::lock_guard lock(m_mutex);
    m_jobs.push_back(std::move(fn));
    if (m_jobs.size() > m_idle && m_threads.size() < m_max) {
      spawn();
    }
  }
  m_wake.notify_one();
}

void WorkerPool::shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(m_mutex);
    m_shutdown = true;
    threads.swap(m_threads);
  }
  m_wake.notify_all();
  for (auto& t : threads) {
    t.join();
  }
}

std::size_t WorkerPool::threads() const {
  std::lock_guard lock(m_mutex);
  return m_threads.size();
}

void WorkerPool::work() {
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock lock(m_mutex);
      ++m_idle;
      m_wake.wait(lock, [this] { return !m_jobs.empty() || m_shutdown; });
      --m_idle;
      if (m_jobs.empty()) {
        return;  // shutting down and nothing left
      }
      fn = std::move(m_jobs.front());
      m_jobs.pop_front();
    }
    fn();
  }
}

}  // namespace strata::registry
