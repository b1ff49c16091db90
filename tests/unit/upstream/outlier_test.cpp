#include "upstream/outlier.hpp"

#include <gtest/gtest.h>

namespace cohort::upstream {
namespace {

using namespace std::chrono_literals;

config::outlier_config policy(std::uint32_t errors = 3, duration base = 10s) {
  config::outlier_config p;
  p.enabled = true;
  p.consecutive_errors = errors;
  p.base_ejection = base;
  return p;
}

TEST(OutlierState, EjectsAfterConsecutiveFailuresOnly) {
  const auto p = policy(3);
  outlier_state s;
  const steady_time t0{};
  EXPECT_FALSE(s.record(true, t0, p));
  EXPECT_FALSE(s.record(true, t0, p));
  EXPECT_FALSE(s.record(false, t0, p));  // a success breaks the run
  EXPECT_EQ(s.consecutive_errors(), 0u);
  EXPECT_FALSE(s.record(true, t0, p));
  EXPECT_FALSE(s.record(true, t0, p));
  EXPECT_TRUE(s.record(true, t0, p));
  EXPECT_EQ(s.consecutive_errors(), 3u);
}

TEST(OutlierState, DisabledPolicyNeverAsksForEjection) {
  auto p = policy(1);
  p.enabled = false;
  outlier_state s;
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(s.record(true, steady_time{}, p));
  }
}

TEST(OutlierState, EjectionLastsBaseTimesCountAndEnds) {
  const auto p = policy(1, 10s);
  outlier_state s;
  const steady_time t0 = steady_time{} + 1000s;
  ASSERT_TRUE(s.record(true, t0, p));
  s.eject(t0, p);
  EXPECT_TRUE(s.ejected(t0));
  EXPECT_TRUE(s.ejected(t0 + 9999ms));
  EXPECT_FALSE(s.ejected(t0 + 10s));
  // Results of requests that were in flight while ejected change nothing.
  EXPECT_FALSE(s.record(true, t0 + 1s, p));
  EXPECT_EQ(s.consecutive_errors(), 0u);

  // Back at t0+10s and failing at once: the second ejection lasts twice as long.
  const steady_time t1 = t0 + 10s;
  ASSERT_TRUE(s.record(true, t1, p));
  s.eject(t1, p);
  EXPECT_EQ(s.ejections(), 2u);
  EXPECT_TRUE(s.ejected(t1 + 19s));
  EXPECT_FALSE(s.ejected(t1 + 20s));
}

TEST(OutlierState, MultiplierIsCappedAndForgottenAfterAHealthyStretch) {
  const auto p = policy(1, 1s);
  outlier_state s;
  steady_time t = steady_time{} + 1000s;
  steady_time last_start = t;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(s.record(true, t, p));
    s.eject(t, p);
    last_start = t;
    t = s.ejected_until();
  }
  EXPECT_EQ(s.ejections(), max_ejection_multiplier);
  EXPECT_EQ(s.ejected_until() - last_start, std::chrono::seconds(max_ejection_multiplier));
  // In rotation as long as the last ejection lasted: the next one is short again.
  t = s.ejected_until() + std::chrono::seconds(max_ejection_multiplier);
  ASSERT_TRUE(s.record(true, t, p));
  s.eject(t, p);
  EXPECT_EQ(s.ejections(), 1u);
  EXPECT_FALSE(s.ejected(t + 1s));
}

TEST(MayEject, RespectsTheShareOfASubset) {
  EXPECT_TRUE(may_eject(0, 1, full_share));
  EXPECT_FALSE(may_eject(0, 1, 5000));  // one endpoint is 100% of its subset
  EXPECT_TRUE(may_eject(0, 2, 5000));
  EXPECT_FALSE(may_eject(1, 2, 5000));
  EXPECT_TRUE(may_eject(2, 10, 3000));
  EXPECT_FALSE(may_eject(3, 10, 3000));
  EXPECT_FALSE(may_eject(0, 0, full_share));
  EXPECT_FALSE(may_eject(0, 4, 0));
}

}  // namespace
}  // namespace cohort::upstream
