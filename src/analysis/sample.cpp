#include "analysis/sample.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace cohort::analysis {

std::uint64_t histogram::total() const {
  return std::accumulate(counts.begin(), counts.end(), std::uint64_t{0});
}

bool histogram::same_layout(const histogram& other) const {
  return upper_bounds == other.upper_bounds && counts.size() == other.counts.size();
}

double weighted_sample::size() const {
  return std::accumulate(weights.begin(), weights.end(), 0.0);
}

double weighted_sample::mean() const {
  double sum = 0;
  double n = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    sum += values[i] * weights[i];
    n += weights[i];
  }
  return n > 0 ? sum / n : 0.0;
}

weighted_sample sample_of(std::span<const double> observations) {
  std::vector<double> sorted;
  sorted.reserve(observations.size());
  for (double v : observations) {
    if (!std::isnan(v)) {
      sorted.push_back(v);
    }
  }
  std::sort(sorted.begin(), sorted.end());
  weighted_sample s;
  for (double v : sorted) {
    if (!s.values.empty() && s.values.back() == v) {
      s.weights.back() += 1.0;
    } else {
      s.values.push_back(v);
      s.weights.push_back(1.0);
    }
  }
  return s;
}

double bucket_value(const histogram& h, std::size_t index) {
  const double lower = index == 0 ? 0.0 : h.upper_bounds[index - 1];
  const double upper = h.upper_bounds[index];
  if (std::isinf(upper)) {
    return lower;
  }
  return 0.5 * (lower + upper);
}

weighted_sample sample_of(const histogram& h) {
  weighted_sample s;
  const std::size_t n = std::min(h.upper_bounds.size(), h.counts.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (h.counts[i] == 0) {
      continue;
    }
    const double v = bucket_value(h, i);
    // An unbounded last bucket can share its value with the one before; merge.
    if (!s.values.empty() && s.values.back() >= v) {
      s.weights.back() += static_cast<double>(h.counts[i]);
      continue;
    }
    s.values.push_back(v);
    s.weights.push_back(static_cast<double>(h.counts[i]));
  }
  return s;
}

}  // namespace cohort::analysis
