#include "upstream/retry_budget.hpp"

#include <gtest/gtest.h>

namespace cohort::upstream {
namespace {

TEST(RetryBudget, FloorAllowsRetriesOnAQuietWorker) {
  retry_budget b;
  EXPECT_TRUE(b.try_acquire(1, 2000, 2));
  EXPECT_TRUE(b.try_acquire(1, 2000, 2));
  EXPECT_FALSE(b.try_acquire(1, 2000, 2));
  EXPECT_EQ(b.in_flight(), 2u);
}

TEST(RetryBudget, ShareOfActiveRequestsBoundsRetriesInFlight) {
  retry_budget b;
  // 20% of 50 active requests: 10 retries in flight, no more.
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(b.try_acquire(50, 2000, 0)) << i;
  }
  EXPECT_FALSE(b.try_acquire(50, 2000, 0));
  b.release();
  EXPECT_TRUE(b.try_acquire(50, 2000, 0));
  EXPECT_FALSE(b.try_acquire(50, 2000, 0));
  // More traffic widens the budget.
  EXPECT_TRUE(b.try_acquire(100, 2000, 0));
}

TEST(RetryBudget, ZeroShareAndZeroFloorForbidRetries) {
  retry_budget b;
  EXPECT_FALSE(b.try_acquire(1000, 0, 0));
  b.release();  // releasing more than acquired does not wrap
  EXPECT_EQ(b.in_flight(), 0u);
}

}  // namespace
}  // namespace cohort::upstream
