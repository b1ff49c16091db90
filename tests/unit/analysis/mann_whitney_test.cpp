#include "analysis/mann_whitney.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "r_reference.hpp"

namespace cohort::analysis {
namespace {

using testing::parse_numbers;
using testing::r_vector;
using testing::run_r;

struct test_case {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;
  alternative alt = alternative::two_sided;
  double confidence = 0.98;
  double mu = 0.0;
};

const char* r_alternative(alternative a) {
  switch (a) {
    case alternative::less:
      return "less";
    case alternative::greater:
      return "greater";
    case alternative::two_sided:
      break;
  }
  return "two.sided";
}

// Observations a histogram would hold, as the bucket values both sides see.
std::vector<double> expand(const weighted_sample& s) {
  std::vector<double> out;
  for (std::size_t i = 0; i < s.values.size(); ++i) {
    out.insert(out.end(), static_cast<std::size_t>(s.weights[i]), s.values[i]);
  }
  return out;
}

histogram latency_histogram(std::mt19937_64& rng, int n, double median_ms, double sigma) {
  histogram h;
  for (int i = 0; i <= 80; ++i) {
    h.upper_bounds.push_back(1.0 * std::pow(2.0, i / 8.0));  // ms, 8 buckets per doubling
  }
  h.upper_bounds.push_back(HUGE_VAL);
  h.counts.assign(h.upper_bounds.size(), 0);
  std::lognormal_distribution<double> lat(std::log(median_ms), sigma);
  for (int i = 0; i < n; ++i) {
    const double v = lat(rng);
    std::size_t b = 0;
    while (h.upper_bounds[b] < v) {
      ++b;
    }
    ++h.counts[b];
  }
  return h;
}

std::vector<test_case> cases() {
  std::vector<test_case> out;
  out.push_back({"small_ties", {1, 2, 2, 3, 5, 8}, {0.5, 1, 2, 2, 2.5}});
  std::mt19937_64 rng(20240611);
  {
    std::normal_distribution<double> a(100.0, 15.0);
    std::normal_distribution<double> b(92.0, 15.0);
    test_case c{"normal_shift", {}, {}};
    for (int i = 0; i < 37; ++i) {
      c.x.push_back(a(rng));
    }
    for (int i = 0; i < 45; ++i) {
      c.y.push_back(b(rng));
    }
    out.push_back(c);
    c.name = "normal_shift_greater_95";
    c.alt = alternative::greater;
    c.confidence = 0.95;
    out.push_back(c);
    c.name = "normal_shift_less_90";
    c.alt = alternative::less;
    c.confidence = 0.90;
    out.push_back(c);
    c.name = "normal_shift_mu";
    c.alt = alternative::two_sided;
    c.confidence = 0.98;
    c.mu = 5.5;
    out.push_back(c);
  }
  {
    // Per-second error counts: mostly zeros, heavy ties.
    std::poisson_distribution<int> a(0.6);
    std::poisson_distribution<int> b(0.3);
    test_case c{"poisson_counts", {}, {}};
    for (int i = 0; i < 120; ++i) {
      c.x.push_back(a(rng));
      c.y.push_back(b(rng));
    }
    out.push_back(c);
  }
  {
    const histogram hx = latency_histogram(rng, 700, 110.0, 0.5);
    const histogram hy = latency_histogram(rng, 650, 100.0, 0.5);
    out.push_back({"binned_latency", expand(sample_of(hx)), expand(sample_of(hy))});
    const histogram hz = latency_histogram(rng, 400, 100.0, 0.5);
    out.push_back({"binned_null", expand(sample_of(hz)), expand(sample_of(hy))});
  }
  return out;
}

// One R run for every case: statistic, p-value, CI and estimate, once with a
// tight root tolerance (where R's answer is the exact crossing) and once with
// R's default tolerance (what Kayenta and a user at the prompt would see).
std::vector<std::vector<double>> r_results(const std::vector<test_case>& cs) {
  std::string script = "options(warn = -1)\n";
  for (const test_case& c : cs) {
    for (const char* tol : {"1e-12", "1e-4"}) {
      script += "r <- wilcox.test(" + r_vector(c.x) + ", " + r_vector(c.y) + ", alternative = '" +
                r_alternative(c.alt) + "', mu = " + std::to_string(c.mu) +
                ", conf.int = TRUE, conf.level = " + std::to_string(c.confidence) +
                ", exact = FALSE, correct = TRUE, tol.root = " + tol + ")\n";
      script +=
          "cat(sprintf('%.17g', c(r$statistic, r$p.value, r$conf.int[1], r$conf.int[2], "
          "r$estimate)), '\\n')\n";
    }
  }
  const auto out = run_r(script);
  std::vector<std::vector<double>> rows;
  if (!out) {
    return rows;
  }
  std::istringstream in(*out);
  std::string line;
  while (std::getline(in, line)) {
    rows.push_back(parse_numbers(line));
  }
  return rows;
}

void expect_close(double mine, double ref, double rel, const std::string& what) {
  if (std::isinf(ref)) {
    EXPECT_EQ(mine, ref) << what;
    return;
  }
  EXPECT_NEAR(mine, ref, rel * std::max(1.0, std::abs(ref))) << what;
}

TEST(mann_whitney, matches_r_wilcox_test) {
  if (!testing::have_r()) {
    GTEST_SKIP() << "Rscript not found at configure time";
  }
  const std::vector<test_case> cs = cases();
  const auto rows = r_results(cs);
  ASSERT_EQ(rows.size(), 2 * cs.size()) << "Rscript failed";
  for (std::size_t i = 0; i < cs.size(); ++i) {
    const test_case& c = cs[i];
    const auto r =
        mann_whitney(sample_of(c.x), sample_of(c.y), {c.confidence, c.alt, true, true, c.mu});
    ASSERT_TRUE(r.ok()) << c.name << ": " << r.err().message;
    const auto& tight = rows[2 * i];
    const auto& loose = rows[2 * i + 1];
    ASSERT_EQ(tight.size(), 5u);
    ASSERT_EQ(loose.size(), 5u);
    expect_close(r->statistic, tight[0], 1e-12, c.name + " W");
    EXPECT_NEAR(r->p_value, tight[1], 1e-6 * tight[1] + 1e-300) << c.name << " p";
    expect_close(r->ci_low, tight[2], 1e-6, c.name + " ci_low");
    expect_close(r->ci_high, tight[3], 1e-6, c.name + " ci_high");
    expect_close(r->estimate, tight[4], 1e-6, c.name + " estimate");
    // R's default uniroot tolerance is 1e-4 (absolute) around the same points.
    for (int k = 2; k < 5; ++k) {
      const double mine = k == 2 ? r->ci_low : k == 3 ? r->ci_high : r->estimate;
      if (!std::isinf(loose[k])) {
        EXPECT_NEAR(mine, loose[k], 2e-4) << c.name << " default tol, column " << k;
      }
    }
  }
}

TEST(mann_whitney, histogram_and_raw_agree) {
  histogram h;
  h.upper_bounds = {0.01, 0.02, 0.05, 0.1, HUGE_VAL};
  h.counts = {3, 0, 5, 2, 1};
  const weighted_sample s = sample_of(h);
  ASSERT_EQ(s.values.size(), 4u);
  EXPECT_DOUBLE_EQ(s.values[0], 0.005);
  EXPECT_DOUBLE_EQ(s.values[1], 0.035);
  EXPECT_DOUBLE_EQ(s.values[3], 0.1);  // the unbounded bucket sits at its lower bound
  EXPECT_DOUBLE_EQ(s.size(), 11.0);
}

TEST(mann_whitney, errors_are_values) {
  const weighted_sample empty;
  const weighted_sample one = sample_of(std::vector<double>{1.0, 2.0});
  EXPECT_FALSE(mann_whitney(empty, one).ok());
  EXPECT_FALSE(mann_whitney(one, empty).ok());
  const weighted_sample flat = sample_of(std::vector<double>{3.0, 3.0, 3.0});
  EXPECT_FALSE(mann_whitney(flat, flat).ok());
}

TEST(mann_whitney, shift_sign_follows_canary) {
  const weighted_sample base = sample_of(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  const weighted_sample up = sample_of(std::vector<double>{11, 12, 13, 14, 15, 16, 17, 18, 19, 20});
  const auto r = mann_whitney(up, base);
  ASSERT_TRUE(r.ok());
  EXPECT_GT(r->ci_low, 0.0);
  EXPECT_DOUBLE_EQ(r->estimate, 10.0);
  EXPECT_LT(r->p_value, 0.001);
}

}  // namespace
}  // namespace cohort::analysis
