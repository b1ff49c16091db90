#pragma once
// A token bucket shared by every worker, exact process-wide and lock-free: the
// generic cell rate algorithm keeps one atomic "theoretical arrival time" and
// admits a request when it does not run more than the bucket's size ahead of
// now. Time comes in as an argument so tests pick it.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>

namespace cohort::upstream {

class token_bucket {
 public:
  struct verdict {
    bool admitted = false;
    std::int64_t retry_after_ns = 0;  // refused: when one token will be there again
  };

  token_bucket(double requests_per_second, std::uint32_t burst) {
    configure(requests_per_second, burst);
  }

  // A reload may change the rate; the bucket's fill level carries over.
  void configure(double requests_per_second, std::uint32_t burst) {
    const double interval = 1e9 / std::max(requests_per_second, 1e-9);
    const auto ns = static_cast<std::int64_t>(std::max(1.0, std::round(interval)));
    interval_ns_.store(ns, std::memory_order_relaxed);
    tolerance_ns_.store(ns * std::max<std::int64_t>(1, burst), std::memory_order_relaxed);
  }

  // Takes one token at now_ns (a monotonic clock in nanoseconds, > 0).
  verdict try_take(std::int64_t now_ns) {
    const std::int64_t interval = interval_ns_.load(std::memory_order_relaxed);
    const std::int64_t tolerance = tolerance_ns_.load(std::memory_order_relaxed);
    std::int64_t tat = tat_.load(std::memory_order_relaxed);
    for (;;) {
      const std::int64_t next = std::max(tat, now_ns) + interval;
      if (next - now_ns > tolerance) {
        return {false, next - now_ns - tolerance};
      }
      if (tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) {
        return {true, 0};
      }
    }
  }

  std::int64_t interval_ns() const { return interval_ns_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> interval_ns_{1};
  std::atomic<std::int64_t> tolerance_ns_{1};
  std::atomic<std::int64_t> tat_{0};
};

}  // namespace cohort::upstream
