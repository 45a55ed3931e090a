// Wall-clock timings of build phases, for measuring where a build's time goes.
//
// With the environment variable STRATA_TIMINGS set (to anything non-empty), every finished
// phase prints one line "strata: timing: WHAT: 1.234 s" to stderr; otherwise nothing is
// printed and a timer costs one clock read. Used by bench/debian_base.sh's breakdown and
// documented in docs/benchmarks.md.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

namespace strata::builder {

/// Whether STRATA_TIMINGS asks for phase timings. Thread-safe (reads the environment once).
inline bool timings_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("STRATA_TIMINGS");
    return v != nullptr && *v != '\0';
  }();
  return enabled;
}

/// Times one phase from construction to stop() (or destruction) and reports it when
/// timings are enabled. Not thread-safe; one owner.
class PhaseTimer {
 public:
  explicit PhaseTimer(std::string what)
      : m_what(std::move(what)), m_start(std::chrono::steady_clock::now()) {}
  ~PhaseTimer() { stop(); }
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;

  /// Reports the phase now (once); later calls do nothing.
  void stop() {
    if (m_stopped) {
      return;
    }
    m_stopped = true;
    if (timings_enabled()) {
      const std::chrono::duration<double> d = std::chrono::steady_clock::now() - m_start;
      std::fprintf(stderr, "strata: timing: %s: %.3f s\n", m_what.c_str(), d.count());
    }
  }

 private:
  std::string m_what;
  std::chrono::steady_clock::time_point m_start;
  bool m_stopped = false;
};

}  // namespace strata::builder
