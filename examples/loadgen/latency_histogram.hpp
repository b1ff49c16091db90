#pragma once
// Latencies in bounded memory: exact below 1 ms (1 us buckets), then buckets 1%
// wide up to about an hour, so quantiles are within 1% however long the run.

#include <cstdint>
#include <vector>

namespace cohort::loadgen {

class latency_histogram {
 public:
  latency_histogram();
  void record(double ms);
  std::uint64_t count() const { return count_; }
  // The upper edge of the bucket holding quantile q (0..1); 0 when empty.
  double quantile_ms(double q) const;
  double max_ms() const { return max_ms_; }
  double mean_ms() const { return count_ == 0 ? 0 : sum_ms_ / static_cast<double>(count_); }

 private:
  static std::size_t bucket_of(double us);
  static double upper_us(std::size_t bucket);
  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0;
  double max_ms_ = 0;
  double sum_ms_ = 0;
};

}  // namespace cohort::loadgen
