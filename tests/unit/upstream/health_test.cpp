#include "upstream/health.hpp"

#include <gtest/gtest.h>

namespace cohort::upstream {
namespace {

TEST(HealthTracker, StartsHealthyAndNeedsThresholdFailuresInARow) {
  health_tracker h;
  EXPECT_TRUE(h.healthy());
  EXPECT_EQ(h.record(false, 2, 3), health_change::none);
  EXPECT_EQ(h.record(false, 2, 3), health_change::none);
  EXPECT_EQ(h.record(true, 2, 3), health_change::none);  // breaks the run
  EXPECT_EQ(h.record(false, 2, 3), health_change::none);
  EXPECT_EQ(h.record(false, 2, 3), health_change::none);
  EXPECT_TRUE(h.healthy());
  EXPECT_EQ(h.record(false, 2, 3), health_change::became_unhealthy);
  EXPECT_FALSE(h.healthy());
  EXPECT_EQ(h.failures(), 3u);
  EXPECT_EQ(h.record(false, 2, 3), health_change::none);  // reported once
}

TEST(HealthTracker, ComesBackAfterHealthyThresholdSuccessesInARow) {
  health_tracker h;
  h.record(false, 2, 1);
  ASSERT_FALSE(h.healthy());
  EXPECT_EQ(h.record(true, 2, 1), health_change::none);
  EXPECT_EQ(h.record(false, 2, 1), health_change::none);
  EXPECT_EQ(h.record(true, 2, 1), health_change::none);
  EXPECT_EQ(h.record(true, 2, 1), health_change::became_healthy);
  EXPECT_TRUE(h.healthy());
  EXPECT_EQ(h.successes(), 2u);
}

TEST(HealthTracker, ExpectedStatusRanges) {
  const std::vector<config::status_range> ranges{{200, 299}, {418, 418}};
  EXPECT_TRUE(status_expected(200, ranges));
  EXPECT_TRUE(status_expected(299, ranges));
  EXPECT_FALSE(status_expected(300, ranges));
  EXPECT_TRUE(status_expected(418, ranges));
  EXPECT_FALSE(status_expected(500, ranges));
  EXPECT_FALSE(status_expected(0, ranges));
}

}  // namespace
}  // namespace cohort::upstream
