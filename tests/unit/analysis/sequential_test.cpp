#include "analysis/sequential.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "analysis/odds_ratio_mixture.hpp"

namespace cohort::analysis {
namespace {

mixture_grid single(double ratio) {
  return {ratio, ratio, 1};
}

// Hand computation: canary 2 requests, baseline 2, two errors. Given two
// events, the canary holds j of them with weights C(2,j) C(2,2-j) = 1, 4, 1.
// Z(w) = 1 + 4w + w^2, so LR(w = 2 against 1) for j = 2 is 4 * 6 / 13.
TEST(odds_ratio_mixture, single_table_by_hand) {
  odds_ratio_mixture m(1.0, single(2.0));
  m.observe(2, 2, 2, 0);
  EXPECT_NEAR(std::exp(m.log_evidence()), 24.0 / 13.0, 1e-12);
  m.observe(2, 2, 0, 2);  // the other way round: 1 * 6 / 13
  EXPECT_NEAR(std::exp(m.log_evidence()), 24.0 / 13.0 * 6.0 / 13.0, 1e-12);
}

// With tolerance the null sits at w0: LR = (w/w0)^k Z(w0) / Z(w).
TEST(odds_ratio_mixture, tolerance_moves_the_null) {
  odds_ratio_mixture m(1.5, single(2.0));  // w = 3 against w0 = 1.5
  m.observe(2, 2, 1, 0);                   // one event, canary's: weights 2, 2
  // Z(w) = 2 + 2w; LR = (3 / 1.5) * (2 + 3) / (2 + 6) = 2 * 5 / 8.
  EXPECT_NEAR(std::exp(m.log_evidence()), 10.0 / 8.0, 1e-12);
}

// Mixture: the average of the grid points' likelihood ratios.
TEST(odds_ratio_mixture, mixture_averages_the_grid) {
  odds_ratio_mixture m(1.0, {2.0, 4.0, 2});
  m.observe(2, 2, 2, 0);
  // w = 4: Z = 1 + 16 + 16 = 33, LR = 16 * 6 / 33.
  EXPECT_NEAR(std::exp(m.log_evidence()), 0.5 * (24.0 / 13.0 + 96.0 / 33.0), 1e-12);
  EXPECT_DOUBLE_EQ(m.best_odds_ratio(), 4.0);
}

// The e-value of one table has expectation exactly 1 under the null, for
// unequal arms: sum over the hypergeometric law of the canary's count.
TEST(odds_ratio_mixture, expectation_one_under_the_null) {
  const std::uint64_t n1 = 7;
  const std::uint64_t n2 = 30;
  const std::uint64_t e = 5;
  double total = 0;
  double mass = 0;
  for (std::uint64_t k = 0; k <= e; ++k) {
    const double p = std::exp(
        std::lgamma(n1 + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n1 - k + 1.0) +
        std::lgamma(n2 + 1.0) - std::lgamma(e - k + 1.0) - std::lgamma(n2 - (e - k) + 1.0) -
        (std::lgamma(n1 + n2 + 1.0) - std::lgamma(e + 1.0) - std::lgamma(n1 + n2 - e + 1.0)));
    odds_ratio_mixture m(1.0, {1.1, 30.0, 16});
    m.observe(n1, n2, k, e - k);
    total += p * std::exp(m.log_evidence());
    mass += p;
  }
  EXPECT_NEAR(mass, 1.0, 1e-12);
  EXPECT_NEAR(total, 1.0, 1e-10);
}

TEST(odds_ratio_mixture, no_information_tables_change_nothing) {
  odds_ratio_mixture m(1.0, {1.1, 30.0, 16});
  m.observe(0, 10, 0, 3);   // canary silent
  m.observe(10, 10, 0, 0);  // no events
  m.observe(1, 1, 1, 1);    // both requests failed: the margins decide it
  EXPECT_EQ(m.log_evidence(), 0.0);
}

// Large tables must not overflow: a huge regression gives a huge e-value,
// a null-like table a moderate one.
TEST(odds_ratio_mixture, large_tables_stay_finite) {
  odds_ratio_mixture m(1.0, {1.1, 30.0, 16});
  m.observe(50000, 50000, 2000, 100);
  EXPECT_TRUE(std::isfinite(m.log_evidence()));
  EXPECT_GT(m.log_evidence(), 100.0);
  odds_ratio_mixture n(1.0, {1.1, 30.0, 16});
  n.observe(50000, 50000, 1000, 1000);
  EXPECT_TRUE(std::isfinite(n.log_evidence()));
  EXPECT_LT(n.log_evidence(), 1.0);
}

TEST(error_test, quiet_canary_is_never_rejected) {
  sequential_params p;
  error_test t(p);
  for (int s = 0; s < 100000; ++s) {
    t.update({0, 0}, {s % 3 == 0 ? 1u : 0u, 0});
  }
  EXPECT_EQ(t.evidence(), 1.0);
  EXPECT_FALSE(t.rejected());
  EXPECT_EQ(t.record().seconds, 100000u);
}

TEST(error_test, record_carries_the_numbers) {
  sequential_params p;
  p.alpha = 0.05;
  error_test t(p);
  for (int s = 0; s < 30; ++s) {
    t.update({10, 3}, {10, 0});
  }
  const sequential_record r = t.record();
  EXPECT_TRUE(r.rejected);
  EXPECT_EQ(r.canary_requests, 300u);
  EXPECT_EQ(r.canary_events, 90u);
  EXPECT_EQ(r.baseline_events, 0u);
  EXPECT_DOUBLE_EQ(r.threshold, 20.0);
  EXPECT_GE(r.e_value, 20.0);
  EXPECT_GE(r.rejected_at, 1u);
  EXPECT_LE(r.rejected_at, 5u);
  EXPECT_NE(r.summary.find("rejected"), std::string::npos);
}

// ---- Monte Carlo -----------------------------------------------------------

struct stream {
  std::mt19937_64 rng;
  std::vector<double> bounds;

  explicit stream(std::uint64_t seed) : rng(seed) {
    // The gateway's window layout: 16 buckets per octave from 65.5 us.
    for (int i = 0; i < 320; ++i) {
      bounds.push_back(65.536e-6 * (1.0 + (i % 16 + 1) / 16.0) *
                       std::exp2(static_cast<double>(i / 16)));
    }
    bounds.push_back(HUGE_VAL);
  }

  // shift: seconds added to every request; tail: share of requests that take
  // tail_s instead.
  void second(double rate, double error, double median, arm_counts& c, histogram& h,
              double sigma = 0.5, double shift = 0.0, double tail = 0.0, double tail_s = 0.0) {
    h.upper_bounds = bounds;
    h.counts.assign(bounds.size(), 0);
    const int n = std::poisson_distribution<int>(rate)(rng);
    c.requests = static_cast<std::uint64_t>(n);
    c.errors = static_cast<std::uint64_t>(std::binomial_distribution<int>(n, error)(rng));
    std::lognormal_distribution<double> lat(std::log(median), sigma);
    std::uniform_real_distribution<double> u;
    for (int i = 0; i < n; ++i) {
      double v = lat(rng) + shift;
      if (tail > 0 && u(rng) < tail) {
        v = tail_s;
      }
      const auto b = std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin();
      ++h.counts[static_cast<std::size_t>(b)];
    }
  }
};

struct arm_setup {
  double rate;
  double error;
  double median;
  double sigma = 0.5;
  double shift = 0.0;  // seconds added to every request
  double tail = 0.0;   // share of requests at tail_s instead
  double tail_s = 0.0;
  // Each second, with this probability, all requests of the arm that second
  // are bad_shift slower (one process having a bad second).
  double bad_second = 0.0;
  double bad_shift = 0.0;
};

// Runs `runs` monitors for `seconds` seconds each, checking every second;
// returns how many rejected and the canary requests each needed.
int simulate(int runs, int seconds, arm_setup canary, arm_setup baseline, double alpha,
             std::uint64_t seed, std::vector<double>* requests_to_reject,
             double baseline_drift = 0.0, sequential_params p = {}) {
  p.alpha = alpha;
  int rejected = 0;
  for (int r = 0; r < runs; ++r) {
    stream sc(seed + 2 * r);
    stream sb(seed + 2 * r + 1);
    std::mt19937_64 bad(seed + 7 * r + 5);
    std::uniform_real_distribution<double> u;
    sequential_monitor m(p);
    double canary_requests = 0;
    arm_counts cc;
    arm_counts cb;
    histogram hc;
    histogram hb;
    for (int s = 0; s < seconds; ++s) {
      // An incident that raises the error rate of both arms mid-run.
      const double boost = (s > seconds / 3 && s < seconds / 2) ? baseline_drift : 0.0;
      const double bad_c = u(bad) < canary.bad_second ? canary.bad_shift : 0.0;
      const double bad_b = u(bad) < baseline.bad_second ? baseline.bad_shift : 0.0;
      sc.second(canary.rate, canary.error + boost, canary.median, cc, hc, canary.sigma,
                canary.shift + bad_c, canary.tail, canary.tail_s);
      sb.second(baseline.rate, baseline.error + boost, baseline.median, cb, hb, baseline.sigma,
                baseline.shift + bad_b, baseline.tail, baseline.tail_s);
      canary_requests += static_cast<double>(cc.requests);
      m.update(cc, cb, hc, hb);
      if (m.rejected()) {
        ++rejected;
        if (requests_to_reject != nullptr) {
          requests_to_reject->push_back(canary_requests);
        }
        break;
      }
    }
  }
  return rejected;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? NAN : v[v.size() / 2];
}

// A/A, checked every second for 10 minutes. alpha 0.05 keeps the expected
// count (<= 15 of 300) large enough that an invalid test (re-checked
// fixed-sample tests reach 30% and more) cannot pass; the bound leaves room
// for sampling noise (P(Binomial(300, 0.05) > 27) < 0.001).
TEST(sequential_monitor, aa_false_alarms_at_most_alpha) {
  const int runs = 300;
  const int rejected = simulate(runs, 600, {20, 0.01, 0.1}, {20, 0.01, 0.1}, 0.05, 11, nullptr);
  EXPECT_LE(rejected, 27) << rejected << " of " << runs;
}

// Unequal arms (a small canary against a big baseline) and an incident that
// hits both arms must not raise false alarms either.
TEST(sequential_monitor, aa_unequal_arms_and_shared_incident) {
  const int runs = 300;
  const int rejected =
      simulate(runs, 600, {4, 0.01, 0.1}, {40, 0.01, 0.1}, 0.05, 5003, nullptr, 0.2);
  EXPECT_LE(rejected, 27) << rejected << " of " << runs;
}

TEST(sequential_monitor, detects_errors_1_to_5_percent) {
  std::vector<double> needed;
  const int runs = 200;
  const int rejected = simulate(runs, 600, {20, 0.05, 0.1}, {20, 0.01, 0.1}, 0.01, 777, &needed);
  EXPECT_GE(rejected, 195);
  EXPECT_LE(median_of(needed), 450.0);
}

// +30% at a 100 ms median. The 1 ms floor costs one 4 ms window bucket of
// resolution (the canary must be a bucket slower to count), so the same
// shift takes longer to show than without a floor.
TEST(sequential_monitor, detects_latency_shift) {
  std::vector<double> needed;
  const int runs = 200;
  const int rejected = simulate(runs, 300, {20, 0.01, 0.13}, {20, 0.01, 0.1}, 0.01, 999, &needed);
  EXPECT_GE(rejected, 195);
  EXPECT_LE(median_of(needed), 400.0);
  std::vector<double> without_floor;
  sequential_params p;
  p.latency_floor = 0;
  EXPECT_GE(simulate(runs, 300, {20, 0.01, 0.13}, {20, 0.01, 0.1}, 0.01, 999, &without_floor, 0, p),
            195);
  EXPECT_LE(median_of(without_floor), 250.0);
}

// ---- floor -----------------------------------------------------------------

histogram one_bucket(const std::vector<double>& bounds, std::size_t index, std::uint64_t n) {
  histogram h{bounds, std::vector<std::uint64_t>(bounds.size(), 0)};
  h.counts[index] = n;
  return h;
}

// Buckets of 1 ms. The baseline's history sits in (2, 3] ms, so its p50
// threshold is 3 ms; with a 1.5 ms floor a canary request counts as above it
// only from 4.5 ms on, and since buckets are whole, only in buckets whose
// lower bound is at least 4.5 ms: (5, 6] and up, not (4, 5].
TEST(latency_test, floor_is_rounded_up_to_whole_buckets) {
  const std::vector<double> bounds = {0.001, 0.002, 0.003, 0.004, 0.005, 0.006, HUGE_VAL};
  sequential_params p;
  p.latency_floor = 0.0015;
  p.latency_quantiles = {0.5};
  p.min_tail_requests = 0;
  latency_test t(p);
  histogram base{bounds, {0, 0, 50, 50, 0, 0, 0}};
  ASSERT_TRUE(t.update(one_bucket(bounds, 0, 0), base));  // history only
  ASSERT_TRUE(t.update(one_bucket(bounds, 4, 100), base));
  sequential_record r = t.record();
  ASSERT_EQ(r.stages.size(), 1u);
  EXPECT_DOUBLE_EQ(r.stages[0].threshold_seconds, 0.003);
  EXPECT_DOUBLE_EQ(r.stages[0].canary_threshold_seconds, 0.005);
  EXPECT_EQ(r.stages[0].canary_exceed, 0u);  // (4, 5] might be below 4.5 ms
  EXPECT_EQ(r.stages[0].baseline_exceed, 50u);
  EXPECT_LT(t.evidence(), 1.0);
  ASSERT_TRUE(t.update(one_bucket(bounds, 5, 100), base));
  r = t.record();
  EXPECT_EQ(r.stages[0].canary_exceed, 100u);  // (5, 6] is above 4.5 ms for certain
}

// Identical arms with a heavy tail (a busy machine's scheduling delays: a few
// requests of every second wait 1 to 8 ms for a CPU) are no evidence, however
// long the run. The conditional chain failed this with a floor: among requests
// above T + floor, a heavy tail is *more* likely to exceed the next threshold
// than among requests above T, so identical arms looked like a regression.
TEST(latency_test, identical_heavy_tails_are_no_evidence_with_a_floor) {
  const std::vector<double> bounds = {0.0002, 0.0003, 0.0004, 0.0005, 0.001, 0.0015,
                                      0.002,  0.003,  0.004,  0.006,  0.008, HUGE_VAL};
  const histogram second{bounds, {0, 20, 50, 24, 0, 1, 1, 1, 1, 1, 1, 0}};
  for (const double floor : {0.001, 0.0005}) {
    sequential_params p;
    p.latency_floor = floor;
    p.min_tail_requests = 1;
    latency_test t(p);
    for (int i = 0; i < 300; ++i) {
      ASSERT_TRUE(t.update(second, second));
    }
    EXPECT_LE(t.evidence(), 1.0) << "floor " << floor;
  }
}

// The tolerance scales the threshold before the floor is added.
TEST(latency_test, tolerance_scales_the_threshold) {
  const std::vector<double> bounds = {0.01, 0.02, 0.03, 0.04, 0.05, HUGE_VAL};
  sequential_params p;
  p.tolerance = 0.5;
  p.latency_floor = 0.001;
  p.latency_quantiles = {0.5};
  p.min_tail_requests = 0;
  latency_test t(p);
  const histogram base{bounds, {0, 100, 100, 0, 0, 0}};
  ASSERT_TRUE(t.update(one_bucket(bounds, 0, 0), base));
  ASSERT_TRUE(t.update(one_bucket(bounds, 2, 10), base));
  // p50 is 20 ms; 20 * 1.5 + 1 = 31 ms, whose nearest bucket edge is 30 ms.
  EXPECT_DOUBLE_EQ(t.record().stages[0].canary_threshold_seconds, 0.03);
  // 20 * 1.5 + 6 = 36 ms: nearer to 40 ms.
  p.latency_floor = 0.006;
  latency_test wider(p);
  ASSERT_TRUE(wider.update(one_bucket(bounds, 0, 0), base));
  ASSERT_TRUE(wider.update(one_bucket(bounds, 2, 10), base));
  EXPECT_DOUBLE_EQ(wider.record().stages[0].canary_threshold_seconds, 0.04);
}

// A canary slower than the baseline by less than the floor is no regression:
// at 0.3 ms a +0.9 ms canary is four times slower, and at 20 ms +0.9 ms is
// within a window bucket. Neither may raise false alarms above alpha.
TEST(sequential_monitor, slower_by_less_than_the_floor_is_not_rejected) {
  const int runs = 150;
  arm_setup sub_ms{50, 0.01, 0.0003, 0.2};
  arm_setup slower = sub_ms;
  slower.shift = 0.0009;
  EXPECT_LE(simulate(runs, 200, slower, sub_ms, 0.05, 31, nullptr), 14);
  arm_setup fast{50, 0.01, 0.02, 0.25};
  arm_setup fast_slower = fast;
  fast_slower.shift = 0.0009;
  EXPECT_LE(simulate(runs, 200, fast_slower, fast, 0.05, 37, nullptr), 14);
  // Above the floor it is caught.
  slower.shift = 0.002;
  EXPECT_EQ(simulate(20, 200, slower, sub_ms, 0.01, 41, nullptr), 20);
}

// ---- capped factors --------------------------------------------------------

TEST(capped_evidence, caps_each_second_not_the_total) {
  capped_evidence e(10.0);
  e.step(std::log(1000.0));  // one second x1000: counts as x10
  EXPECT_NEAR(e.log_evidence(), std::log(10.0), 1e-12);
  e.step(std::log(2000.0));  // x2
  EXPECT_NEAR(e.log_evidence(), std::log(20.0), 1e-12);
  e.step(std::log(200.0));  // x0.1 is not capped: losses count in full
  EXPECT_NEAR(e.log_evidence(), std::log(2.0), 1e-12);
  EXPECT_EQ(e.capped_seconds(), 1u);
}

// One second in which every canary request is much slower moves the latency
// e-value by at most the cap, whatever the request count.
TEST(latency_test, one_bad_second_moves_evidence_by_at_most_the_cap) {
  stream sc(3);
  stream sb(4);
  sequential_params p;
  latency_test t(p);
  arm_counts cc;
  arm_counts cb;
  histogram hc;
  histogram hb;
  sb.second(500, 0, 0.02, cb, hb, 0.25);
  t.update(histogram{hb.upper_bounds, std::vector<std::uint64_t>(hb.counts.size(), 0)}, hb);
  const double before = t.log_evidence();
  sc.second(500, 0, 0.02, cc, hc, 0.25, 0.01);  // +10 ms for a second
  sb.second(500, 0, 0.02, cb, hb, 0.25);
  t.update(hc, hb);
  EXPECT_NEAR(t.log_evidence() - before, std::log(p.max_step_per_second), 1e-9);
  EXPECT_EQ(t.record().capped_seconds, 1u);
}

// Bad seconds in either arm (a 100 req/s run at 20 ms where, in 5% of the
// seconds, one arm's requests are all 6 ms slower) must not roll back more
// than alpha of the runs. Without the cap this rolls back 9 of these 150.
TEST(sequential_monitor, bad_seconds_do_not_roll_back) {
  const int runs = 150;
  arm_setup noisy{100, 0.01, 0.02, 0.25};
  noisy.bad_second = 0.05;
  noisy.bad_shift = 0.006;
  // P(Binomial(150, 0.01) > 5) < 0.005.
  EXPECT_LE(simulate(runs, 100, noisy, noisy, 0.01, 53, nullptr), 5);
}

// ---- per-stage odds ratios ---------------------------------------------------

// 2% of canary requests at 416 ms against a 100 ms lognormal (p99 320 ms):
// p99 +30%, median +1%. Without a floor, the shared odds ratio alone, pinned
// near 1 by the lower stages, misses most; the top stages' own odds ratios
// catch it. With the default floor every stage is its own test.
TEST(sequential_monitor, detects_a_tail_only_regression) {
  const int runs = 40;
  arm_setup base{20, 0.01, 0.1};
  arm_setup tail = base;
  tail.tail = 0.02;
  tail.tail_s = 0.416;
  sequential_params no_floor;
  no_floor.latency_floor = 0;
  sequential_params shared_only = no_floor;
  shared_only.stage_weight = 0;
  const int shared = simulate(runs, 300, tail, base, 0.01, 61, nullptr, 0, shared_only);
  const int both = simulate(runs, 300, tail, base, 0.01, 61, nullptr, 0, no_floor);
  EXPECT_GE(both, 32);  // 33 of 40 with these seeds
  EXPECT_GT(both, shared + 10);
  EXPECT_GE(simulate(runs, 300, tail, base, 0.01, 61, nullptr), 36);  // the default floor
}

// ---- 4xx -------------------------------------------------------------------

TEST(sequential_monitor, rejects_a_canary_answering_403) {
  sequential_params p;
  sequential_monitor m(p);
  for (int s = 0; s < 30 && !m.rejected(); ++s) {
    m.update({20, 0, 20}, {20, 0, 0});
  }
  EXPECT_TRUE(m.rejected());
  EXPECT_TRUE(m.client_errors().rejected());
  EXPECT_LE(m.record().rejected_at, 5u);  // the cap: at least 3 seconds of 4xx
  EXPECT_NE(m.record().summary.find("4xx"), std::string::npos);
  EXPECT_EQ(m.client_errors().record().canary_events, m.record().seconds * 20);

  p.client_errors = false;
  sequential_monitor off(p);
  for (int s = 0; s < 30; ++s) {
    off.update({20, 0, 20}, {20, 0, 0});
  }
  EXPECT_FALSE(off.rejected());
  EXPECT_EQ(off.record().summary.find("4xx"), std::string::npos);
}

// 5xx and 4xx are separate event types: 4xx do not count as 5xx.
TEST(sequential_monitor, client_errors_are_not_server_errors) {
  sequential_monitor m(sequential_params{});
  for (int s = 0; s < 60; ++s) {
    m.update({20, 0, 10}, {20, 0, 0});
  }
  EXPECT_EQ(m.errors().evidence(), 1.0);
  EXPECT_GT(m.client_errors().evidence(), 100.0);
}

TEST(sequential_monitor, detects_4xx_1_to_5_percent) {
  const int runs = 100;
  int rejected = 0;
  std::mt19937_64 rng(71);
  for (int r = 0; r < runs; ++r) {
    sequential_monitor m(sequential_params{});
    for (int s = 0; s < 600 && !m.rejected(); ++s) {
      const auto c = static_cast<std::uint64_t>(std::poisson_distribution<int>(20)(rng));
      const auto b = static_cast<std::uint64_t>(std::poisson_distribution<int>(20)(rng));
      const auto ce = static_cast<std::uint64_t>(
          std::binomial_distribution<int>(static_cast<int>(c), 0.05)(rng));
      const auto be = static_cast<std::uint64_t>(
          std::binomial_distribution<int>(static_cast<int>(b), 0.01)(rng));
      m.update({c, 0, ce}, {b, 0, be});
    }
    rejected += m.rejected() ? 1 : 0;
  }
  EXPECT_GE(rejected, 97);
}

}  // namespace
}  // namespace cohort::analysis
