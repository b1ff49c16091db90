#include "metrics/histogram.hpp"

#include <cmath>
#include <limits>

namespace cohort::metrics {

template <class Layout>
std::uint64_t basic_histogram<Layout>::rank_of(double q, std::uint64_t n) {
  if (!(q > 0)) {
    return 1;
  }
  if (q >= 1) {
    return n;
  }
  const double r = std::ceil(q * static_cast<double>(n));
  if (r < 1) {
    return 1;
  }
  return r >= static_cast<double>(n) ? n : static_cast<std::uint64_t>(r);
}

template <class Layout>
double basic_histogram<Layout>::quantile_seconds(double q) const {
  if (count_ == 0) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return static_cast<double>(quantile_ns(q)) * 1e-9;
}

template <class Layout>
std::vector<double> basic_histogram<Layout>::upper_bounds_seconds() {
  std::vector<double> bounds(bucket_count);
  for (std::size_t i = 0; i < bucket_count; ++i) {
    bounds[i] = static_cast<double>(Layout::upper_ns(i)) / 1e9;
  }
  bounds.back() = std::numeric_limits<double>::infinity();
  return bounds;
}

template class basic_histogram<latency_layout>;
template class basic_histogram<window_layout>;

}  // namespace cohort::metrics
