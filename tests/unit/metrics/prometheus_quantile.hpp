#pragma once
// Prometheus' histogram_quantile() on one series (promql/quantile.go,
// bucketQuantile): find the bucket holding rank q * count and interpolate
// linearly inside it; the +Inf bucket answers with the highest finite bound.

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace cohort::metrics::testing {

struct le_bucket {
  double upper = 0;
  double cumulative = 0;
};

inline double histogram_quantile(double q, const std::vector<le_bucket>& buckets) {
  if (buckets.size() < 2 || !std::isinf(buckets.back().upper)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  const double observations = buckets.back().cumulative;
  if (observations == 0) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  double rank = q * observations;
  std::size_t b = 0;
  while (b < buckets.size() - 1 && buckets[b].cumulative < rank) {
    ++b;
  }
  if (b == buckets.size() - 1) {
    return buckets[buckets.size() - 2].upper;
  }
  if (b == 0 && buckets[0].upper <= 0) {
    return buckets[0].upper;
  }
  double start = 0;
  double count = buckets[b].cumulative;
  if (b > 0) {
    start = buckets[b - 1].upper;
    count -= buckets[b - 1].cumulative;
    rank -= buckets[b - 1].cumulative;
  }
  return start + (buckets[b].upper - start) * (rank / count);
}

}  // namespace cohort::metrics::testing
