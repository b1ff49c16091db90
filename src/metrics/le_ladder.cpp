#include "metrics/le_ladder.hpp"

namespace cohort::metrics {

double le_bound_seconds(std::size_t k) {
  return static_cast<double>(le_bound_ns(k)) / 1e9;
}

void cumulative_le_counts(const latency_histogram& h, std::span<std::uint64_t, le_count> out) {
  std::uint64_t running = 0;
  std::size_t k = 0;
  for (std::size_t i = 0; i < latency_layout::count && k < le_count; ++i) {
    running += h.bucket(i);
    if (i == le_fine_index[k]) {
      out[k++] = running;
    }
  }
}

std::string seconds_text(std::uint64_t ns) {
  std::string out = std::to_string(ns / 1'000'000'000);
  std::uint64_t frac = ns % 1'000'000'000;
  if (frac == 0) {
    return out;
  }
  char digits[9];
  for (int i = 8; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + frac % 10);
    frac /= 10;
  }
  int len = 9;
  while (len > 0 && digits[len - 1] == '0') {
    --len;
  }
  out.push_back('.');
  out.append(digits, static_cast<std::size_t>(len));
  return out;
}

}  // namespace cohort::metrics
