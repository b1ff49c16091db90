#pragma once
// The `le` ladder of cohort_request_duration_seconds: a coarser view of the
// 640-bucket latency layout for Prometheus. Every `le` is an upper bound of a
// fine bucket, so the export is exact (no fine bucket straddles an `le`).
//
// Resolution: 16 bounds per power of two (consecutive ratio 1.03 .. 1.06) from
// 2^20 ns (1.05 ms) to 2^34 ns (17.2 s), 4 per power of two outside (65 us ..
// 1 ms and 17 s .. 69 s). histogram_quantile() interpolates linearly inside a
// bucket, so its error is bounded by how unlike a uniform spread the values in
// the bucket are, times the bucket's width; a distribution edge falling inside
// a bucket is the worst case. With ratio ~1.09 (8 per octave) a uniform
// 40-120 ms load already errs by 3.5% at p99 and narrower jitter by 8%; 16 per
// octave keeps both under 4% (docs/metrics.md has the simulation).

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "metrics/histogram.hpp"

namespace cohort::metrics {

namespace detail {
inline constexpr unsigned fine_exponent_from = 20;  // 16 per octave from 2^20 ns ...
inline constexpr unsigned fine_exponent_to = 33;    // ... through the octave below 2^34 ns

constexpr std::size_t ladder_stride(std::size_t fine_index) {
  const unsigned e = min_exponent + static_cast<unsigned>(fine_index / latency_layout::per_octave);
  const std::size_t per = (e >= fine_exponent_from && e <= fine_exponent_to) ? 16 : 4;
  return latency_layout::per_octave / per;
}
constexpr bool ends_le_bucket(std::size_t fine_index) {
  return (fine_index % latency_layout::per_octave + 1) % ladder_stride(fine_index) == 0;
}
constexpr std::size_t ladder_size() {
  std::size_t n = 0;
  for (std::size_t i = 0; i < latency_layout::count; ++i) {
    n += ends_le_bucket(i) ? 1 : 0;
  }
  return n;
}
}  // namespace detail

// Finite `le` bounds (the +Inf bucket comes after them).
inline constexpr std::size_t le_count = detail::ladder_size();

// For each finite `le`, the last fine bucket it covers.
inline constexpr std::array<std::size_t, le_count> le_fine_index = [] {
  std::array<std::size_t, le_count> out{};
  std::size_t n = 0;
  for (std::size_t i = 0; i < latency_layout::count; ++i) {
    if (detail::ends_le_bucket(i)) {
      out[n++] = i;
    }
  }
  return out;
}();

inline std::uint64_t le_bound_ns(std::size_t k) {
  return latency_layout::upper_ns(le_fine_index[k]);
}
double le_bound_seconds(std::size_t k);

// Cumulative counts at each finite `le`; the +Inf count is h.count().
void cumulative_le_counts(const latency_histogram& h, std::span<std::uint64_t, le_count> out);

// Nanoseconds as exact decimal seconds, trailing zeros dropped: "0.001048576", "2", "8.589934592".
std::string seconds_text(std::uint64_t ns);

static_assert(le_fine_index.back() == latency_layout::count - 1,
              "the last fine bucket (clamped values) must close an le bucket");

}  // namespace cohort::metrics
