#include "analysis/normal.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace cohort::analysis {

double normal_cdf(double z) {
  return 0.5 * std::erfc(-z / std::numbers::sqrt2);
}

double normal_upper(double z) {
  return 0.5 * std::erfc(z / std::numbers::sqrt2);
}

double normal_pdf(double z) {
  return std::exp(-0.5 * z * z) / std::sqrt(2.0 * std::numbers::pi);
}

double normal_quantile(double p) {
  if (!(p > 0.0)) {
    return p == 0.0 ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::quiet_NaN();
  }
  if (!(p < 1.0)) {
    return p == 1.0 ? std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::quiet_NaN();
  }
  // A rational start good to ~5e-4 (Abramowitz & Stegun 26.2.23), then Halley
  // steps on the erfc-based cdf, which converge cubically to full precision.
  const bool lower = p < 0.5;
  const double tail = lower ? p : 1.0 - p;
  const double t = std::sqrt(-2.0 * std::log(tail));
  double x = t - (2.515517 + t * (0.802853 + t * 0.010328)) /
                     (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308)));
  if (lower) {
    x = -x;
  }
  for (int i = 0; i < 4; ++i) {
    // Work in the tail the answer lives in, so tiny p keeps its precision.
    const double e = lower ? normal_cdf(x) - p : (1.0 - p) - normal_upper(x);
    const double u = e / normal_pdf(x);
    const double step = u / (1.0 + 0.5 * x * u);
    x -= step;
    if (std::abs(step) <= 1e-15 * std::max(1.0, std::abs(x))) {
      break;
    }
  }
  return x;
}

}  // namespace cohort::analysis
