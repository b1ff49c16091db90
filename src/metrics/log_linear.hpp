#pragma once
// The bucket layout shared by every latency histogram: log-linear over
// nanoseconds. Each power of two [2^e, 2^(e+1)) is cut into 2^SubBits equal
// buckets, so a bucket is at most 2^-SubBits of its lower bound wide and its
// midpoint is within 2^-(SubBits+1) of any value in it (1.56% for SubBits = 5).
// The index is two shifts and a count-leading-zeros: no loop, no table.
//
// Buckets are (lower, upper] like Prometheus' `le`: a value equal to an upper
// bound belongs to that bucket. Values at or below 2^16 ns (65.5 us) clamp into
// the first bucket, values above 2^36 ns (68.7 s) into the last, which keeps
// the advertised range 100 us .. 60 s inside the exact part.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace cohort::metrics {

inline constexpr unsigned min_exponent = 16;  // 2^16 ns = 65.536 us
inline constexpr unsigned max_exponent = 35;  // last octave [2^35, 2^36) ns = [34.4 s, 68.7 s)

template <unsigned SubBits>
struct log_linear {
  static constexpr unsigned sub_bits = SubBits;
  static constexpr std::size_t per_octave = std::size_t{1} << SubBits;
  static constexpr std::size_t octaves = max_exponent - min_exponent + 1;
  static constexpr std::size_t count = octaves * per_octave;
  static constexpr std::uint64_t floor_ns = std::uint64_t{1} << min_exponent;
  static constexpr std::uint64_t ceiling_ns = std::uint64_t{1} << (max_exponent + 1);

  // The bucket holding a latency of `ns` nanoseconds.
  static constexpr std::size_t index(std::uint64_t ns) {
    // Shifting by one makes the buckets (lower, upper] instead of [lower, upper).
    const std::uint64_t v = std::clamp<std::uint64_t>(ns, floor_ns + 1, ceiling_ns) - 1;
    const unsigned e = 63u - static_cast<unsigned>(std::countl_zero(v));
    const std::uint64_t sub = (v >> (e - SubBits)) & (per_octave - 1);
    return (static_cast<std::size_t>(e - min_exponent) << SubBits) + static_cast<std::size_t>(sub);
  }

  static constexpr std::uint64_t lower_ns(std::size_t i) {
    const unsigned e = min_exponent + static_cast<unsigned>(i >> SubBits);
    const std::uint64_t sub = i & (per_octave - 1);
    return (per_octave + sub) << (e - SubBits);
  }
  static constexpr std::uint64_t upper_ns(std::size_t i) {
    const unsigned e = min_exponent + static_cast<unsigned>(i >> SubBits);
    const std::uint64_t sub = i & (per_octave - 1);
    return (per_octave + sub + 1) << (e - SubBits);
  }
  // The midpoint: what quantiles report, so their relative error stays within the bound.
  static constexpr std::uint64_t representative_ns(std::size_t i) {
    return (lower_ns(i) + upper_ns(i)) / 2;
  }
  // Largest relative distance between a value in range and its bucket's midpoint.
  static constexpr double max_relative_error = 1.0 / static_cast<double>(2 * per_octave);
};

// The request histograms: 640 buckets, relative error <= 1.56%.
using latency_layout = log_linear<5>;
// The one-second window slots: 320 buckets, relative error <= 3.13%, half the memory.
using window_layout = log_linear<4>;

static_assert(latency_layout::index(100'000) > 0);
static_assert(latency_layout::index(60'000'000'000) < latency_layout::count - 1);
static_assert(latency_layout::upper_ns(latency_layout::count - 1) == latency_layout::ceiling_ns);

}  // namespace cohort::metrics
