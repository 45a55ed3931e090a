// Workers take the .debs in list order; each opens its package, estimates the decompressed
// size from the control file's Installed-Size, waits until the budget has room for that
// (or until its package is the one the consumer waits for), reserves it, preloads up to the
// reservation and then trades the reservation for what it actually holds. See the header.
#include "builder/debian/deb_prefetch.hpp"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "util/error.hpp"

namespace strata::builder::debian {

namespace {

// What preloading `reader` will take, from Installed-Size (KiB of the unpacked files, each
// rounded up, so usually more than data.tar), with room for tar headers.
std::uint64_t estimate(const DebReader& reader) {
  const std::string kib = reader.control().control.get("Installed-Size");
  std::uint64_t value = 0;
  for (char c : kib) {
    if (c < '0' || c > '9' || value > (std::uint64_t{1} << 40)) {
      return 16ULL << 20;  // unknown: a typical large package
    }
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return kib.empty() ? 16ULL << 20 : value * 1024 + (256U << 10);
}

}  // namespace

struct DebPrefetcher::State {
  struct Slot {
    bool ready = false;
    std::optional<DebReader> reader;
    std::exception_ptr error;
    std::uint64_t held = 0;  // bytes preloaded, counted against the budget until released
  };

  std::vector<std::filesystem::path> debs;
  DebPrefetchOptions options;
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<Slot> slots;
  std::size_t next_assign = 0;
  std::size_t next_consume = 0;
  std::uint64_t reserved = 0;       // bytes reserved or held, all packages together
  std::uint64_t last_taken_held = 0;
  bool stopping = false;
  std::vector<std::thread> threads;

  void work() noexcept {
    for (;;) {
      std::size_t i = 0;
      {
        std::unique_lock lock(mutex);
        cv.wait(lock, [&] {
          return stopping || next_assign >= debs.size() || next_assign < options.horizon;
        });
        if (stopping || next_assign >= debs.size()) {
          return;
        }
        i = next_assign++;
      }
      Slot result;
      try {
        DebReader reader(debs[i], options.limits);
        const std::uint64_t want = estimate(reader);
        std::uint64_t cap = 0;
        {
          std::unique_lock lock(mutex);
          const std::uint64_t budget = options.memory_budget;
          cv.wait(lock, [&] {
            return stopping || i == next_consume || reserved + want <= budget;
          });
          if (stopping) {
            return;
          }
          cap = std::min(want, budget > reserved ? budget - reserved : 0);
          reserved += cap;
        }
        try {
          result.held = cap == 0 ? 0 : reader.preload_data(cap);
        } catch (...) {
          std::lock_guard lock(mutex);
          reserved -= cap;
          throw;
        }
        std::lock_guard lock(mutex);
        reserved = reserved - cap + result.held;
        result.reader.emplace(std::move(reader));
      } catch (...) {
        result.error = std::current_exception();
      }
      std::lock_guard lock(mutex);
      result.ready = true;
      slots[i] = std::move(result);
      cv.notify_all();
    }
  }
};

DebPrefetcher::DebPrefetcher(std::vector<std::filesystem::path> debs, DebPrefetchOptions options)
    : m_state(std::make_unique<State>()) {
  State& s = *m_state;
  s.debs = std::move(debs);
  s.options = std::move(options);
  s.slots.resize(s.debs.size());
  unsigned workers = s.options.workers;
  if (workers == 0) {
    workers = std::clamp(std::thread::hardware_concurrency(), 1U, 4U);
  }
  workers = static_cast<unsigned>(std::min<std::size_t>(workers, s.debs.size()));
  try {
    for (unsigned w = 0; w < workers; ++w) {
      s.threads.emplace_back([&s] { s.work(); });
    }
  } catch (...) {
    {
      std::lock_guard lock(s.mutex);
      s.stopping = true;
    }
    s.cv.notify_all();
    for (std::thread& t : s.threads) {
      t.join();
    }
    throw;
  }
}

DebPrefetcher::~DebPrefetcher() {
  {
    std::lock_guard lock(m_state->mutex);
    m_state->stopping = true;
  }
  m_state->cv.notify_all();
  for (std::thread& t : m_state->threads) {
    t.join();
  }
}

void DebPrefetcher::set_horizon(std::size_t horizon) {
  {
    std::lock_guard lock(m_state->mutex);
    m_state->options.horizon = std::max(m_state->options.horizon, horizon);
  }
  m_state->cv.notify_all();
}

std::size_t DebPrefetcher::size() const noexcept { return m_state->debs.size(); }

DebReader DebPrefetcher::next() {
  State& s = *m_state;
  std::unique_lock lock(s.mutex);
  if (s.next_consume >= s.debs.size()) {
    util::fail(util::ErrorKind::Internal, "DebPrefetcher::next: every .deb has been taken");
  }
  // The package taken before has been consumed: its memory no longer counts.
  s.reserved -= std::min(s.reserved, s.last_taken_held);
  s.last_taken_held = 0;
  s.cv.notify_all();
  const std::size_t i = s.next_consume;
  s.options.horizon = std::max(s.options.horizon, i + 1);  // what is asked for is allowed
  s.cv.wait(lock, [&] { return s.slots[i].ready; });
  State::Slot slot = std::move(s.slots[i]);
  s.slots[i] = State::Slot{};
  s.next_consume = i + 1;
  s.last_taken_held = slot.held;
  s.cv.notify_all();
  if (slot.error) {
    std::rethrow_exception(slot.error);
  }
  return std::move(*slot.reader);
}

}  // namespace strata::builder::debian
