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
    for (int i = 0; i < 100; ++i) {
      bounds.push_back(0.001 * std::exp2(i / 8.0));
    }
    bounds.push_back(HUGE_VAL);
  }

  void second(double rate, double error, double median, arm_counts& c, histogram& h) {
    h.upper_bounds = bounds;
    h.counts.assign(bounds.size(), 0);
    const int n = std::poisson_distribution<int>(rate)(rng);
    c.requests = static_cast<std::uint64_t>(n);
    c.errors = static_cast<std::uint64_t>(std::binomial_distribution<int>(n, error)(rng));
    std::lognormal_distribution<double> lat(std::log(median), 0.5);
    for (int i = 0; i < n; ++i) {
      const double v = lat(rng);
      const auto b = std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin();
      ++h.counts[static_cast<std::size_t>(b)];
    }
  }
};

struct arm_setup {
  double rate;
  double error;
  double median;
};

// Runs `runs` monitors for `seconds` seconds each, checking every second;
// returns how many rejected and the canary requests each needed.
int simulate(int runs, int seconds, arm_setup canary, arm_setup baseline, double alpha,
             std::uint64_t seed, std::vector<double>* requests_to_reject,
             double baseline_drift = 0.0) {
  sequential_params p;
  p.alpha = alpha;
  int rejected = 0;
  for (int r = 0; r < runs; ++r) {
    stream sc(seed + 2 * r);
    stream sb(seed + 2 * r + 1);
    sequential_monitor m(p);
    double canary_requests = 0;
    arm_counts cc;
    arm_counts cb;
    histogram hc;
    histogram hb;
    for (int s = 0; s < seconds; ++s) {
      // An incident that raises the error rate of both arms mid-run.
      const double boost = (s > seconds / 3 && s < seconds / 2) ? baseline_drift : 0.0;
      sc.second(canary.rate, canary.error + boost, canary.median, cc, hc);
      sb.second(baseline.rate, baseline.error + boost, baseline.median, cb, hb);
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

TEST(sequential_monitor, detects_latency_shift) {
  std::vector<double> needed;
  const int runs = 200;
  const int rejected = simulate(runs, 300, {20, 0.01, 0.13}, {20, 0.01, 0.1}, 0.01, 999, &needed);
  EXPECT_GE(rejected, 195);
  EXPECT_LE(median_of(needed), 250.0);
}

}  // namespace
}  // namespace cohort::analysis
