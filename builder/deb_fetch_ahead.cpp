#include "builder/deb_fetch_ahead.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include "builder/debian/archive.hpp"
#include "builder/debian/sources.hpp"

namespace strata::builder {

DebFetchAhead::DebFetchAhead(cache::Store& store, std::string mirror,
                             debian::FetchOptions options, std::vector<const LockedLayer*> layers)
    : m_store(store),
      m_mirror(std::move(mirror)),
      m_options(std::move(options)),
      m_layers(std::move(layers)) {
  m_options.progress = nullptr;  // nobody to report to from this thread
  m_thread = std::thread([this] { run(); });
}

DebFetchAhead::~DebFetchAhead() {
  m_stop = true;
  m_thread.join();
}

void DebFetchAhead::await(const LockedLayer& layer) {
  const auto it = std::find(m_layers.begin(), m_layers.end(), &layer);
  if (it == m_layers.end()) {
    return;
  }
  const auto index = static_cast<std::size_t>(it - m_layers.begin());
  std::unique_lock lock(m_mutex);
  m_changed.wait(lock, [&] { return m_done > index; });
}

void DebFetchAhead::run() {
  const auto finish_layer = [this] {
    std::lock_guard lock(m_mutex);
    ++m_done;
    m_changed.notify_all();
  };
  std::string mirror = m_mirror;
  bool first = true;
  for (const LockedLayer* layer : m_layers) {
    std::vector<debian::Package> missing;
    for (const LockedPackage& p : layer->packages) {
      if (!m_stop && !m_store.has_blob(p.sha256)) {
        missing.push_back(package_of(p));
      }
    }
    // The first layer is waited for at once: one batch, so that all its transfers share
    // the connections. Later ones go in batches, so that a failed build stops soon.
    const std::size_t batch = first ? std::max<std::size_t>(missing.size(), 1) : k_batch;
    first = false;
    for (std::size_t at = 0; at < missing.size() && !m_stop; at += batch) {
      const auto from = missing.begin() + static_cast<std::ptrdiff_t>(at);
      const auto to = missing.begin() + static_cast<std::ptrdiff_t>(std::min(missing.size(), at + batch));
      try {
        if (mirror.empty()) {
          mirror = debian::find_debian_mirror().uri;
        }
        debian::fetch_debs(m_store, mirror, std::vector<debian::Package>(from, to), m_options);
      } catch (...) {
        // Left to the foreground, which downloads what is still missing and reports.
      }
    }
    finish_layer();
  }
}

}  // namespace strata::builder
