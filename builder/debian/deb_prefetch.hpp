// Opening and decompressing .deb files ahead of the thread that installs them.
//
// Unpacking a Debian layer is mostly xz decompression of data.tar members (one core at
// ~60 MB/s) and file creation. A DebPrefetcher takes the ordered list of .debs a layer
// installs and, on a few worker threads, opens them (DebReader) and preloads each one's
// decompressed data.tar into memory (DebReader::preload_data), in order of the list; the
// installing thread takes them with next() in the same order. Workers run ahead of the
// consumer only as far as a memory budget allows: before preloading a package a worker
// reserves up to what is left of the budget (a package larger than what is left is
// preloaded only in part and the rest is decompressed by the consumer as it reads), and the
// reservation is returned when the consumer takes the following package. The package the
// consumer waits for is never held back by the budget, so the consumer always progresses.
// Memory stays bounded by the budget plus one decompressor block per worker whatever the
// layer size. Because the prefetcher lives as long as its owner keeps it, packages of a
// later phase (those unpacked after a `dpkg --configure` run) are decompressed while that
// run keeps one core busy; a horizon keeps them from competing with the earlier phase.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "builder/debian/deb_file.hpp"

namespace strata::builder::debian {

/// How a DebPrefetcher works. Value type.
struct DebPrefetchOptions {
  /// Decompressed bytes held in memory at most (across all packages not yet taken).
  std::uint64_t memory_budget = 256ULL << 20;
  /// Worker threads; 0 = the number of CPUs, at most 4.
  unsigned workers = 0;
  /// Workers start only the first `horizon` .debs until set_horizon() moves it: lets the
  /// owner keep helper threads off the CPU while they would compete with the consumer for
  /// packages it does not need yet (SIZE_MAX: no limit).
  std::size_t horizon = SIZE_MAX;
  DebLimits limits;
};

/// Opens and preloads `debs` in order on worker threads. next() is for one consumer thread;
/// the destructor stops the workers (a package being preloaded is finished first) and joins.
class DebPrefetcher {
 public:
  /// Starts the workers. The files are opened later, on the workers.
  explicit DebPrefetcher(std::vector<std::filesystem::path> debs, DebPrefetchOptions options = {});
  ~DebPrefetcher();
  DebPrefetcher(const DebPrefetcher&) = delete;
  DebPrefetcher& operator=(const DebPrefetcher&) = delete;

  /// The next .deb of the list, opened, with as much of its data.tar preloaded as the
  /// budget allowed; waits for a worker when it is not ready. Rethrows what opening or
  /// preloading that .deb threw (as DebReader's constructor would, naming the file).
  /// Throws Internal when every .deb has been taken.
  DebReader next();

  /// Lets the workers start the first `horizon` .debs (never lowers it). Thread-safe.
  void set_horizon(std::size_t horizon);

  /// How many .debs the list has. Thread-safe.
  [[nodiscard]] std::size_t size() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> m_state;
};

}  // namespace strata::builder::debian
