#include "latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace cohort::loadgen {

namespace {
constexpr std::size_t linear = 1000;  // 0..999 us, one bucket each
constexpr double growth = 1.01;
constexpr std::size_t log_buckets = 1500;  // 1 ms * 1.01^1500: about 3 million ms
}  // namespace

latency_histogram::latency_histogram() : buckets_(linear + log_buckets + 1, 0) {}

std::size_t latency_histogram::bucket_of(double us) {
  if (!(us >= 0)) {
    return 0;
  }
  if (us < linear) {
    return static_cast<std::size_t>(us);
  }
  const auto k = static_cast<std::size_t>(std::log(us / linear) / std::log(growth));
  return linear + std::min(k, log_buckets);
}

double latency_histogram::upper_us(std::size_t bucket) {
  if (bucket < linear) {
    return static_cast<double>(bucket + 1);
  }
  return linear * std::pow(growth, static_cast<double>(bucket - linear + 1));
}

void latency_histogram::record(double ms) {
  ++buckets_[bucket_of(ms * 1000.0)];
  ++count_;
  max_ms_ = std::max(max_ms_, ms);
  sum_ms_ += ms;
}

double latency_histogram::quantile_ms(double q) const {
  if (count_ == 0) {
    return 0;
  }
  const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    seen += buckets_[b];
    if (seen >= std::max<std::uint64_t>(rank, 1)) {
      return std::min(upper_us(b) / 1000.0, max_ms_);
    }
  }
  return max_ms_;
}

}  // namespace cohort::loadgen
