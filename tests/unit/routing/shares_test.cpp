#include <gtest/gtest.h>

#include "routing/decision.hpp"

namespace cohort::routing {
namespace {

rollout_state at(basis_points w, rollout_state::mode m = rollout_state::mode::progressing) {
  rollout_state s;
  s.weight = w;
  s.phase = m;
  return s;
}

void expect_shares(const target_shares& t, basis_points canary, basis_points baseline,
                   basis_points stable) {
  EXPECT_EQ(t.canary, canary);
  EXPECT_EQ(t.baseline, baseline);
  EXPECT_EQ(t.stable, stable);
}

TEST(Shares, BaselineTakesTheSameShareUntilHalf) {
  expect_shares(shares_of(at(500), true), 500, 500, 9000);
  expect_shares(shares_of(at(5000), true), 5000, 5000, 0);
  // Above half the baseline gets what is left, never more than exists.
  expect_shares(shares_of(at(6000), true), 6000, 4000, 0);
  expect_shares(shares_of(at(10000), true), 10000, 0, 0);
  expect_shares(shares_of(at(0), true), 0, 0, 10000);
}

TEST(Shares, WithoutBaselineStableTakesTheRest) {
  expect_shares(shares_of(at(500), false), 500, 0, 9500);
  expect_shares(shares_of(at(12000), false), 10000, 0, 0);
}

TEST(Shares, PromotionAndRollbackOverrideTheWeight) {
  expect_shares(shares_of(at(500, rollout_state::mode::promoted), true), 10000, 0, 0);
  expect_shares(shares_of(at(500, rollout_state::mode::rolled_back), true), 0, 0, 10000);
}

}  // namespace
}  // namespace cohort::routing
