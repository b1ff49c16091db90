#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "metrics/histogram.hpp"

namespace cohort::metrics {
namespace {

double rel_err(double got, double want) {
  return std::abs(got - want) / want;
}

TEST(log_linear, bucket_bounds_hold_their_values) {
  // Every value from 100 us to 60 s lands in a bucket whose (lower, upper] holds it.
  for (double ns = 100'000; ns <= 60e9; ns *= 1.0007) {
    const auto v = static_cast<std::uint64_t>(ns);
    const std::size_t i = latency_layout::index(v);
    ASSERT_LT(latency_layout::lower_ns(i), v) << v;
    ASSERT_GE(latency_layout::upper_ns(i), v) << v;
  }
}

TEST(log_linear, upper_bound_belongs_to_its_bucket) {
  for (std::size_t i = 1; i + 1 < latency_layout::count; ++i) {
    ASSERT_EQ(latency_layout::index(latency_layout::upper_ns(i)), i);
    ASSERT_EQ(latency_layout::index(latency_layout::upper_ns(i) + 1), i + 1);
    ASSERT_EQ(latency_layout::upper_ns(i - 1), latency_layout::lower_ns(i));
  }
}

TEST(log_linear, clamps_outside_the_range) {
  EXPECT_EQ(latency_layout::index(0), 0u);
  EXPECT_EQ(latency_layout::index(1), 0u);
  EXPECT_EQ(latency_layout::index(50'000), 0u);
  EXPECT_EQ(latency_layout::index(120'000'000'000ULL), latency_layout::count - 1);
  EXPECT_EQ(latency_layout::index(~std::uint64_t{0}), latency_layout::count - 1);
  EXPECT_EQ(window_layout::index(~std::uint64_t{0}), window_layout::count - 1);
}

TEST(histogram, single_value_quantile_error_within_two_percent_100us_to_60s) {
  double worst = 0;
  for (double ns = 100'000; ns <= 60e9; ns *= 1.0013) {
    latency_histogram h;
    h.record(static_cast<std::uint64_t>(ns));
    const double got = static_cast<double>(h.quantile_ns(0.5));
    worst = std::max(worst, rel_err(got, std::floor(ns)));
  }
  EXPECT_LE(worst, 0.02);
  EXPECT_LE(worst, latency_layout::max_relative_error + 1e-9);
  // The bound is tight-ish, not accidentally tiny.
  EXPECT_GT(worst, 0.01);
}

TEST(histogram, window_layout_error_bound) {
  double worst = 0;
  for (double ns = 100'000; ns <= 60e9; ns *= 1.0013) {
    window_histogram h;
    h.record(static_cast<std::uint64_t>(ns));
    worst = std::max(worst, rel_err(static_cast<double>(h.quantile_ns(1.0)), std::floor(ns)));
  }
  EXPECT_LE(worst, window_layout::max_relative_error + 1e-9);
}

// Exact quantile of a sample: the ceil(q n)-th smallest.
double exact_quantile(std::vector<std::uint64_t> v, double q) {
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return static_cast<double>(v[std::max<std::size_t>(rank, 1) - 1]);
}

void check_quantiles(const std::vector<std::uint64_t>& values) {
  latency_histogram h;
  for (const auto v : values) {
    h.record(v);
  }
  ASSERT_EQ(h.count(), values.size());
  for (const double q : {0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    const double want = exact_quantile(values, q);
    EXPECT_LE(rel_err(static_cast<double>(h.quantile_ns(q)), want), 0.0157)
        << "q=" << q << " want " << want;
  }
}

TEST(histogram, quantiles_of_uniform_distribution) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::uint64_t> d(40'000'000, 120'000'000);
  std::vector<std::uint64_t> v(100'000);
  for (auto& x : v) {
    x = d(rng);
  }
  check_quantiles(v);
  // And against the analytic p99 of U(40 ms, 120 ms): 119.2 ms.
  latency_histogram h;
  for (const auto x : v) {
    h.record(x);
  }
  EXPECT_NEAR(h.quantile_seconds(0.99), 0.1192, 0.1192 * 0.02);
  EXPECT_NEAR(h.quantile_seconds(0.5), 0.080, 0.080 * 0.02);
}

TEST(histogram, quantiles_of_exponential_and_lognormal) {
  std::mt19937_64 rng(11);
  std::exponential_distribution<double> e(1.0 / 5e6);  // mean 5 ms
  std::lognormal_distribution<double> ln(std::log(80e6), 0.6);
  std::vector<std::uint64_t> a(50'000);
  std::vector<std::uint64_t> b(50'000);
  for (auto& x : a) {
    x = static_cast<std::uint64_t>(e(rng)) + 100'000;
  }
  for (auto& x : b) {
    x = static_cast<std::uint64_t>(ln(rng));
  }
  check_quantiles(a);
  check_quantiles(b);
}

TEST(histogram, merge_equals_recording_everything_in_one) {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> ln(std::log(30e6), 1.0);
  latency_histogram all;
  latency_histogram left;
  latency_histogram right;
  for (int i = 0; i < 20'000; ++i) {
    const auto v = static_cast<std::uint64_t>(ln(rng));
    all.record(v);
    (i % 3 == 0 ? left : right).record(v);
  }
  left.merge(right);
  EXPECT_EQ(left.count(), all.count());
  EXPECT_EQ(left.sum_ns(), all.sum_ns());
  EXPECT_EQ(left.buckets(), all.buckets());
  EXPECT_EQ(left.quantile_ns(0.99), all.quantile_ns(0.99));
}

TEST(histogram, empty_is_nan_not_zero) {
  latency_histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_TRUE(std::isnan(h.quantile_seconds(0.99)));
}

TEST(histogram, analysis_shape) {
  const auto bounds = window_histogram::upper_bounds_seconds();
  ASSERT_EQ(bounds.size(), window_histogram::bucket_count);
  EXPECT_TRUE(std::isinf(bounds.back()));
  for (std::size_t i = 1; i < bounds.size(); ++i) {
    ASSERT_LT(bounds[i - 1], bounds[i]);
  }
  window_histogram h;
  h.record(80'000'000);
  const auto counts = h.counts_vector();
  const std::size_t i = window_layout::index(80'000'000);
  EXPECT_EQ(counts[i], 1u);
  EXPECT_LT(bounds[i - 1], 0.080);
  EXPECT_GE(bounds[i], 0.080);
}

}  // namespace
}  // namespace cohort::metrics
