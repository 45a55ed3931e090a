// Downloading the .debs of the layers still to build while the current one builds.
//
// A cold build used to download each Debian layer's packages when that layer started, so
// the network sat idle while a layer unpacked and configured, and the CPU sat idle while
// the next layer downloaded. DebFetchAhead downloads, on one background thread and in stack
// order, the missing .debs of every Debian layer from the first one that must be built; a
// layer then waits only for its own packages (await()). The downloads go into the store
// exactly as the foreground would put them there (verified, atomic). A failure in the
// background is not reported from there: the layer that needs the package finds it still
// missing and downloads it in the foreground, whose error names the package and URL.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "builder/debian/fetch.hpp"
#include "builder/lock.hpp"
#include "cache/store.hpp"

namespace strata::builder {

class DebFetchAhead {
 public:
  /// Starts downloading the packages of `layers` (in this order; each must outlive this
  /// object) from `mirror` (empty: the host's, found on the background thread).
  DebFetchAhead(cache::Store& store, std::string mirror, debian::FetchOptions options,
                std::vector<const LockedLayer*> layers);
  /// Stops after the downloads in flight (a bounded batch, not a whole layer) and joins.
  ~DebFetchAhead();
  DebFetchAhead(const DebFetchAhead&) = delete;
  DebFetchAhead& operator=(const DebFetchAhead&) = delete;

  /// Blocks until the background thread has tried every package of `layer` (successfully
  /// or not). Returns at once for a layer it was not given. Thread-safe.
  void await(const LockedLayer& layer);

  /// Packages per fetch batch after the first layer: the granularity at which the
  /// destructor stops.
  static constexpr std::size_t k_batch = 64;

 private:
  void run();

  cache::Store& m_store;
  std::string m_mirror;
  debian::FetchOptions m_options;
  std::vector<const LockedLayer*> m_layers;
  std::mutex m_mutex;
  std::condition_variable m_changed;
  std::size_t m_done = 0;  // layers [0, m_done) tried; guarded by m_mutex
  std::atomic<bool> m_stop{false};
  std::thread m_thread;
};

}  // namespace strata::builder
