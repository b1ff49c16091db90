#pragma once
// The inputs of the analysis: per-arm request counts and latency histograms as
// the gateway's windows hold them, and the weighted sample the rank tests use.

#include <cstdint>
#include <span>
#include <vector>

namespace cohort::analysis {

// Requests and errors of one arm, either running totals or one second's delta.
struct arm_counts {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;         // 5xx
  std::uint64_t client_errors = 0;  // 4xx
};

// A latency histogram: counts[i] requests took at most upper_bounds[i] seconds
// and more than upper_bounds[i - 1] (0 for i = 0). The last bound may be +inf.
// Both arms of a comparison use the same bounds.
struct histogram {
  std::vector<double> upper_bounds;
  std::vector<std::uint64_t> counts;

  std::uint64_t total() const;
  bool same_layout(const histogram& other) const;
};

// Distinct values in increasing order, each with how many observations hold it.
struct weighted_sample {
  std::vector<double> values;
  std::vector<double> weights;

  double size() const;
  double mean() const;
  bool empty() const { return values.empty(); }
};

// Raw observations (NaN dropped); equal values merge into one tie group.
weighted_sample sample_of(std::span<const double> observations);

// Each non-empty bucket becomes one tie group at its representative value: the
// middle of the bucket, or its lower bound for an unbounded last bucket. Every
// observation of a bucket ties with the others of that bucket, and since both
// arms share the bounds, the ranks are those of the bucket order.
weighted_sample sample_of(const histogram& h);
double bucket_value(const histogram& h, std::size_t index);

}  // namespace cohort::analysis
