#pragma once
// The standard normal distribution, to the precision R's pnorm/qnorm give,
// for the large-sample Mann-Whitney statistic.

namespace cohort::analysis {

// P(Z <= z).
double normal_cdf(double z);
// P(Z > z), accurate in the far upper tail (no 1 - cdf cancellation).
double normal_upper(double z);
double normal_pdf(double z);
// The z with P(Z <= z) = p, for 0 < p < 1; -inf / +inf at 0 / 1.
double normal_quantile(double p);

}  // namespace cohort::analysis
