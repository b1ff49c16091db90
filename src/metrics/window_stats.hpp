#pragma once
// What the controller reads from the one-second rings of an arm (a rollout's
// subset), all workers merged. Shaped for src/analysis: requests and errors
// are analysis::arm_counts' fields, and a histogram converts with
//   analysis::histogram{h.upper_bounds_seconds(), h.counts_vector()}.

#include <array>
#include <cstdint>
#include <vector>

#include "metrics/histogram.hpp"

namespace cohort::metrics {

struct second_counts {
  std::uint64_t second = 0;
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::array<std::uint64_t, 5> classes{};  // 1xx, 2xx, 3xx, 4xx, 5xx
};

// One second of an arm, with its latency histogram (the sequential tests'
// per-second update).
struct second_stats {
  second_counts counts;
  window_histogram latency;
};

struct window_stats {
  std::uint64_t first_second = 0;  // inclusive
  std::uint64_t last_second = 0;   // inclusive (the `now` asked about)
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::array<std::uint64_t, 5> classes{};
  // 1 - errors / requests; NaN without requests (no data is not success).
  double success_rate = 0;
  // Seconds; NaN without requests. Within window_layout's 3.1% of the true value.
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double p999 = 0;
  window_histogram latency;
  // One entry per second of the window, oldest first, zeros for quiet seconds.
  std::vector<second_counts> per_second;
};

}  // namespace cohort::metrics
