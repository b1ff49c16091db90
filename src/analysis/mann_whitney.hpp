#pragma once
// The Mann-Whitney (Wilcoxon rank-sum) test with its large-sample normal
// approximation, tie and continuity corrections, and the Hodges-Lehmann shift
// with its confidence interval: the numbers R's
//   wilcox.test(x, y, conf.int = TRUE, exact = FALSE, correct = TRUE)
// reports, which is the test Kayenta's judge uses.

#include "analysis/sample.hpp"
#include "common/result.hpp"

namespace cohort::analysis {

// The alternative hypothesis about the shift of x relative to y.
enum class alternative { two_sided, less, greater };

struct mann_whitney_options {
  double confidence = 0.98;
  alternative alt = alternative::two_sided;
  bool continuity = true;
  bool conf_int = true;
  // The shift x - y under the null hypothesis (R's mu).
  double mu = 0.0;
};

struct mann_whitney_result {
  double n_x = 0;
  double n_y = 0;
  double statistic = 0;  // W: pairs with x > y, a tied pair counting one half
  double z = 0;          // standardised W after both corrections
  double p_value = 1;    // of the null "the shift is mu"
  // Hodges-Lehmann estimate of the shift x - y and its confidence interval
  // (one-sided alternatives leave one end infinite). NaN when conf_int is off.
  double estimate = 0;
  double ci_low = 0;
  double ci_high = 0;
  double confidence = 0;
};

// x is the canary, y the baseline by convention of the callers. Fails when a
// sample is empty or when every observation ties (no variance to test with).
result<mann_whitney_result> mann_whitney(const weighted_sample& x, const weighted_sample& y,
                                         const mann_whitney_options& options = {});

}  // namespace cohort::analysis
