#pragma once
// A plain (single-threaded) latency histogram on a log-linear layout: what the
// readers get after merging the workers' shards. Fixed size, no allocation.

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "metrics/log_linear.hpp"

namespace cohort::metrics {

template <class Layout>
class basic_histogram {
 public:
  using layout = Layout;
  static constexpr std::size_t bucket_count = Layout::count;

  void record(std::uint64_t ns, std::uint64_t n = 1) {
    counts_[Layout::index(ns)] += n;
    count_ += n;
    sum_ns_ += ns * n;
  }
  // For readers that copy counts out of atomic storage.
  void add_bucket(std::size_t i, std::uint64_t n) {
    counts_[i] += n;
    count_ += n;
  }
  void add_sum_ns(std::uint64_t ns) { sum_ns_ += ns; }

  void merge(const basic_histogram& other) {
    for (std::size_t i = 0; i < bucket_count; ++i) {
      counts_[i] += other.counts_[i];
    }
    count_ += other.count_;
    sum_ns_ += other.sum_ns_;
  }

  std::uint64_t count() const { return count_; }
  std::uint64_t sum_ns() const { return sum_ns_; }
  double sum_seconds() const { return static_cast<double>(sum_ns_) * 1e-9; }
  std::uint64_t bucket(std::size_t i) const { return counts_[i]; }
  const std::array<std::uint64_t, bucket_count>& buckets() const { return counts_; }

  // The q-quantile (0 < q <= 1) in nanoseconds: the midpoint of the bucket that
  // holds the ceil(q * count)-th smallest value, so it is within the layout's
  // relative error of that value. 0 when empty.
  std::uint64_t quantile_ns(double q) const {
    if (count_ == 0) {
      return 0;
    }
    const std::uint64_t rank = rank_of(q, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        return Layout::representative_ns(i);
      }
    }
    return Layout::representative_ns(bucket_count - 1);
  }
  // NaN when empty, so an empty window never looks fast.
  double quantile_seconds(double q) const;

  // Bucket bounds in seconds in the shape src/analysis wants (analysis::histogram):
  // counts[i] values were above upper_bounds[i - 1] and at most upper_bounds[i];
  // the last bound is +inf because the last bucket also holds clamped values.
  static std::vector<double> upper_bounds_seconds();
  std::vector<std::uint64_t> counts_vector() const { return {counts_.begin(), counts_.end()}; }

 private:
  static std::uint64_t rank_of(double q, std::uint64_t n);

  std::array<std::uint64_t, bucket_count> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ns_ = 0;
};

using latency_histogram = basic_histogram<latency_layout>;
using window_histogram = basic_histogram<window_layout>;

extern template class basic_histogram<latency_layout>;
extern template class basic_histogram<window_layout>;

}  // namespace cohort::metrics
