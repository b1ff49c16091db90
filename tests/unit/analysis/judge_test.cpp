#include "analysis/judge.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace cohort::analysis {
namespace {

weighted_sample normal_sample(std::uint64_t seed, int n, double mean, double sd) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(mean, sd);
  std::vector<double> v;
  for (int i = 0; i < n; ++i) {
    v.push_back(d(rng));
  }
  return sample_of(v);
}

metric_spec spec(const char* name, const char* group, direction dir = direction::increase) {
  metric_spec s;
  s.name = name;
  s.group = group;
  s.dir = dir;
  return s;
}

TEST(judge, same_distributions_pass) {
  const std::vector<metric_spec> specs = {spec("latency", "latency"), spec("errors", "errors")};
  const std::vector<metric_samples> data = {
      {normal_sample(1, 300, 100, 10), normal_sample(2, 300, 100, 10)},
      {normal_sample(3, 300, 1, 0.2), normal_sample(4, 300, 1, 0.2)}};
  const judge_record r = judge({}, specs, data);
  EXPECT_EQ(r.result, verdict::pass);
  EXPECT_DOUBLE_EQ(r.score, 100.0);
  ASSERT_EQ(r.metrics.size(), 2u);
  EXPECT_EQ(r.metrics[0].outcome, metric_outcome::pass);
  ASSERT_TRUE(r.metrics[0].test.has_value());
  EXPECT_LT(r.metrics[0].test->ci_low, 0.0);
  EXPECT_GT(r.metrics[0].test->ci_high, 0.0);
}

TEST(judge, weighted_groups_score_the_failure) {
  const std::vector<metric_spec> specs = {spec("latency", "latency"), spec("errors", "errors")};
  const std::vector<metric_samples> data = {
      {normal_sample(1, 300, 120, 10), normal_sample(2, 300, 100, 10)},
      {normal_sample(3, 300, 1, 0.2), normal_sample(4, 300, 1, 0.2)}};
  judge_params p;
  p.weights = {{"errors", 80}, {"latency", 20}};
  const judge_record r = judge(p, specs, data);
  EXPECT_EQ(r.metrics[0].outcome, metric_outcome::high);
  EXPECT_GT(r.metrics[0].test->ci_low, 15.0);
  EXPECT_NEAR(r.metrics[0].effect_size, 1.2, 0.03);
  EXPECT_DOUBLE_EQ(r.score, 80.0);
  EXPECT_EQ(r.result, verdict::marginal);
  p.weights = {{"errors", 50}};  // latency takes the other 50
  EXPECT_DOUBLE_EQ(judge(p, specs, data).score, 50.0);
  EXPECT_EQ(judge(p, specs, data).result, verdict::fail);
}

TEST(judge, critical_metric_fails_everything) {
  std::vector<metric_spec> specs = {spec("latency", "latency"), spec("a", "other"),
                                    spec("b", "other"), spec("c", "other")};
  specs[0].critical = true;
  const std::vector<metric_samples> data = {
      {normal_sample(1, 300, 120, 10), normal_sample(2, 300, 100, 10)},
      {normal_sample(3, 100, 1, 1), normal_sample(4, 100, 1, 1)},
      {normal_sample(5, 100, 1, 1), normal_sample(6, 100, 1, 1)},
      {normal_sample(7, 100, 1, 1), normal_sample(8, 100, 1, 1)}};
  const judge_record r = judge({}, specs, data);
  EXPECT_EQ(r.result, verdict::fail);
  EXPECT_DOUBLE_EQ(r.score, 0.0);
}

TEST(judge, tolerance_and_allowed_effect_absorb_small_shifts) {
  const metric_samples shifted = {normal_sample(1, 800, 105, 5), normal_sample(2, 800, 100, 5)};
  metric_spec s = spec("latency", "latency");
  EXPECT_EQ(classify(s, shifted, 0.98).outcome, metric_outcome::high);
  s.tolerance = 0.1;  // band of 10 around a mean of 100
  EXPECT_EQ(classify(s, shifted, 0.98).outcome, metric_outcome::pass);
  s.tolerance = 0.0;
  s.allowed_increase = 1.1;
  EXPECT_EQ(classify(s, shifted, 0.98).outcome, metric_outcome::pass);
}

TEST(judge, direction_decides_what_hurts) {
  const metric_samples higher = {normal_sample(1, 300, 120, 10), normal_sample(2, 300, 100, 10)};
  const metric_samples lower = {normal_sample(1, 300, 80, 10), normal_sample(2, 300, 100, 10)};
  EXPECT_EQ(classify(spec("m", "g", direction::decrease), higher, 0.98).outcome,
            metric_outcome::pass);
  EXPECT_EQ(classify(spec("m", "g", direction::decrease), lower, 0.98).outcome,
            metric_outcome::low);
  EXPECT_EQ(classify(spec("m", "g", direction::either), higher, 0.98).outcome,
            metric_outcome::high);
  EXPECT_EQ(classify(spec("m", "g", direction::increase), lower, 0.98).outcome,
            metric_outcome::pass);
}

TEST(judge, no_data_is_not_a_failure_unless_asked) {
  std::vector<metric_spec> specs = {spec("latency", "latency"), spec("errors", "errors")};
  const std::vector<metric_samples> data = {
      {weighted_sample{}, normal_sample(2, 300, 100, 10)},
      {normal_sample(3, 300, 1, 0.2), normal_sample(4, 300, 1, 0.2)}};
  judge_record r = judge({}, specs, data);
  EXPECT_EQ(r.metrics[0].outcome, metric_outcome::nodata);
  EXPECT_FALSE(r.metrics[0].counted);
  EXPECT_EQ(r.result, verdict::pass);
  EXPECT_DOUBLE_EQ(r.score, 100.0);

  specs[0].fail_on_nodata = true;
  r = judge({}, specs, data);
  EXPECT_DOUBLE_EQ(r.score, 50.0);
  EXPECT_EQ(r.result, verdict::fail);

  const std::vector<metric_samples> empty = {{}, {}};
  specs[0].fail_on_nodata = false;
  EXPECT_EQ(judge({}, specs, empty).result, verdict::nodata);
}

TEST(judge, binned_latency_with_ties) {
  // Same bucket layout; the canary's mass sits one bucket higher.
  histogram base{{0.05, 0.1, 0.2, 0.4, HUGE_VAL}, {100, 300, 400, 150, 50}};
  histogram can{{0.05, 0.1, 0.2, 0.4, HUGE_VAL}, {20, 200, 400, 280, 100}};
  const metric_record r =
      classify(spec("latency", "latency"), {sample_of(can), sample_of(base)}, 0.98);
  EXPECT_EQ(r.outcome, metric_outcome::high);
  EXPECT_DOUBLE_EQ(r.canary_count, 1000.0);
  ASSERT_TRUE(r.test.has_value());
  EXPECT_LT(r.test->p_value, 1e-10);
}

}  // namespace
}  // namespace cohort::analysis
