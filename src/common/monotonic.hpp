#pragma once
// The clock the request path and the controller share for time windows:
// whole seconds of the monotonic clock (never jumps with wall-clock changes).

#include <time.h>

#include <chrono>
#include <cstdint>

namespace cohort {

inline std::uint64_t monotonic_seconds(std::chrono::steady_clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
}
inline std::uint64_t monotonic_seconds() {
  return monotonic_seconds(std::chrono::steady_clock::now());
}

// The steady clock as of the kernel's last tick (CLOCK_MONOTONIC_COARSE, the
// same clock as steady_clock): no time-stamp counter read, so several times
// cheaper than steady_clock::now() (which the request path otherwise calls
// about ten times per request), and up to one tick (1 to 4 ms) behind. For
// deadlines and timeouts, never for measured latencies.
inline std::chrono::steady_clock::time_point coarse_now() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

}  // namespace cohort
