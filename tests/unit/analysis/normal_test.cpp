#include "analysis/normal.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace cohort::analysis {
namespace {

// Reference values: R 4.2, print(qnorm(p), digits = 17) and pnorm(z).
TEST(normal, quantile_matches_r) {
  EXPECT_NEAR(normal_quantile(0.99), 2.3263478740408408, 1e-13);
  EXPECT_NEAR(normal_quantile(0.01), -2.3263478740408408, 1e-13);
  EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-13);
  EXPECT_NEAR(normal_quantile(0.5), 0.0, 1e-15);
  EXPECT_NEAR(normal_quantile(1e-10), -6.3613409024040557, 1e-11);
  EXPECT_NEAR(normal_quantile(0.7), 0.52440051270804067, 1e-13);
}

TEST(normal, cdf_and_upper_tail) {
  EXPECT_NEAR(normal_cdf(-1.0), 0.15865525393145705, 1e-15);
  EXPECT_NEAR(normal_upper(8.0), 6.2209605742717849e-16, 1e-28);
  EXPECT_DOUBLE_EQ(normal_cdf(0.0), 0.5);
}

TEST(normal, quantile_inverts_cdf) {
  for (double p = 0.001; p < 1.0; p += 0.0137) {
    EXPECT_NEAR(normal_cdf(normal_quantile(p)), p, 1e-14) << p;
  }
  EXPECT_TRUE(std::isinf(normal_quantile(0.0)));
  EXPECT_TRUE(std::isinf(normal_quantile(1.0)));
}

}  // namespace
}  // namespace cohort::analysis
