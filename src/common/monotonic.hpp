#pragma once
// The clock the request path and the controller share for time windows:
// whole seconds of the monotonic clock (never jumps with wall-clock changes).

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

}  // namespace cohort
