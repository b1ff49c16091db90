#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "metrics/le_ladder.hpp"
#include "prometheus_quantile.hpp"

namespace cohort::metrics {
namespace {

TEST(le_ladder, increasing_aligned_and_fine_enough_between_1ms_and_10s) {
  ASSERT_GT(le_count, 100u);
  for (std::size_t k = 1; k < le_count; ++k) {
    ASSERT_GT(le_bound_ns(k), le_bound_ns(k - 1));
    const double ratio =
        static_cast<double>(le_bound_ns(k)) / static_cast<double>(le_bound_ns(k - 1));
    if (le_bound_ns(k - 1) >= 1'000'000 && le_bound_ns(k) <= 10'000'000'000ULL) {
      EXPECT_LE(ratio, 1.0625 + 1e-12) << "le " << le_bound_seconds(k);
    }
    // An le is exactly a fine bucket's upper bound: the fine bucket after it starts there.
    ASSERT_EQ(latency_layout::lower_ns(le_fine_index[k - 1] + 1), le_bound_ns(k - 1));
  }
  EXPECT_EQ(le_bound_ns(le_count - 1), latency_layout::ceiling_ns);
}

TEST(le_ladder, seconds_text_is_exact) {
  EXPECT_EQ(seconds_text(0), "0");
  EXPECT_EQ(seconds_text(2'000'000'000), "2");
  EXPECT_EQ(seconds_text(1'048'576), "0.001048576");
  EXPECT_EQ(seconds_text(8'589'934'592ULL), "8.589934592");
  EXPECT_EQ(seconds_text(1'500'000'000), "1.5");
  for (std::size_t k = 0; k < le_count; ++k) {
    EXPECT_EQ(std::stod(seconds_text(le_bound_ns(k))), le_bound_seconds(k));
  }
}

TEST(le_ladder, cumulative_counts_match_the_fine_histogram) {
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> ln(std::log(50e6), 1.5);
  latency_histogram h;
  std::vector<std::uint64_t> values;
  for (int i = 0; i < 30'000; ++i) {
    values.push_back(static_cast<std::uint64_t>(ln(rng)));
    h.record(values.back());
  }
  std::array<std::uint64_t, le_count> cum{};
  cumulative_le_counts(h, cum);
  for (std::size_t k = 0; k < le_count; ++k) {
    // le means "at most": count the raw values directly (clamped ones go to the ends).
    const std::uint64_t bound = le_bound_ns(k);
    const auto want = static_cast<std::uint64_t>(
        std::count_if(values.begin(), values.end(), [&](std::uint64_t v) {
          return std::clamp<std::uint64_t>(v, 0, latency_layout::ceiling_ns) <= bound;
        }));
    ASSERT_EQ(cum[k], want) << "le " << seconds_text(bound);
  }
  EXPECT_EQ(cum.back(), h.count());
}

// histogram_quantile(0.99) over the exported ladder against the exact p99 of the values.
double grafana_p99_error(const std::vector<std::uint64_t>& values) {
  latency_histogram h;
  for (const auto v : values) {
    h.record(v);
  }
  std::array<std::uint64_t, le_count> cum{};
  cumulative_le_counts(h, cum);
  std::vector<testing::le_bucket> buckets;
  for (std::size_t k = 0; k < le_count; ++k) {
    buckets.push_back({le_bound_seconds(k), static_cast<double>(cum[k])});
  }
  buckets.push_back({std::numeric_limits<double>::infinity(), static_cast<double>(h.count())});
  const double estimate = testing::histogram_quantile(0.99, buckets);
  std::vector<std::uint64_t> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  const double truth =
      static_cast<double>(sorted[static_cast<std::size_t>(std::ceil(0.99 * sorted.size())) - 1]) *
      1e-9;
  return std::abs(estimate - truth) / truth;
}

TEST(le_ladder, histogram_quantile_p99_within_5_percent_uniform_40_120ms) {
  // The demo backend's --latency-ms 80 --latency-jitter-ms 40, plus gateway overheads of 0..5 ms.
  std::mt19937_64 rng(17);
  for (double overhead_ms = 0; overhead_ms <= 5; overhead_ms += 0.25) {
    std::uniform_real_distribution<double> d((40 + overhead_ms) * 1e6, (120 + overhead_ms) * 1e6);
    std::vector<std::uint64_t> v(50'000);
    for (auto& x : v) {
      x = static_cast<std::uint64_t>(d(rng));
    }
    EXPECT_LT(grafana_p99_error(v), 0.05) << "overhead " << overhead_ms << " ms";
  }
}

TEST(le_ladder, histogram_quantile_p99_within_5_percent_lognormal) {
  std::mt19937_64 rng(23);
  double worst = 0;
  for (double median_ms = 40; median_ms <= 200; median_ms += 10) {
    for (const double sigma : {0.05, 0.1, 0.25, 0.5}) {
      std::lognormal_distribution<double> d(std::log(median_ms * 1e6), sigma);
      std::vector<std::uint64_t> v(50'000);
      for (auto& x : v) {
        x = static_cast<std::uint64_t>(d(rng));
      }
      const double err = grafana_p99_error(v);
      worst = std::max(worst, err);
      EXPECT_LT(err, 0.05) << "median " << median_ms << " ms sigma " << sigma;
    }
  }
  RecordProperty("worst_lognormal_p99_error", std::to_string(worst));
}

TEST(le_ladder, histogram_quantile_p99_within_5_percent_narrow_uniform_jitter) {
  // Edges of narrow uniform loads are the ladder's worst case.
  std::mt19937_64 rng(29);
  std::uniform_real_distribution<double> lo_ms(40, 180);
  std::uniform_real_distribution<double> width_ms(20, 80);
  for (int trial = 0; trial < 60; ++trial) {
    const double lo = lo_ms(rng);
    const double hi = lo + width_ms(rng);
    std::uniform_real_distribution<double> d(lo * 1e6, hi * 1e6);
    std::vector<std::uint64_t> v(20'000);
    for (auto& x : v) {
      x = static_cast<std::uint64_t>(d(rng));
    }
    EXPECT_LT(grafana_p99_error(v), 0.05) << "U(" << lo << ", " << hi << ") ms";
  }
}

}  // namespace
}  // namespace cohort::metrics
