#pragma once
// The health of one endpoint as its active checks see it: a pure state
// machine fed with check results. Endpoints start healthy, so a gateway that
// restarts never fails every user over before its first checks.

#include <cstdint>
#include <vector>

#include "config/config.hpp"

namespace cohort::upstream {

enum class health_change : std::uint8_t { none, became_unhealthy, became_healthy };

class health_tracker {
 public:
  bool healthy() const { return healthy_; }
  std::uint32_t failures() const { return failures_; }    // in a row
  std::uint32_t successes() const { return successes_; }  // in a row

  health_change record(bool passed, std::uint32_t healthy_threshold,
                       std::uint32_t unhealthy_threshold) {
    if (passed) {
      failures_ = 0;
      ++successes_;
      if (!healthy_ && successes_ >= healthy_threshold) {
        healthy_ = true;
        return health_change::became_healthy;
      }
      return health_change::none;
    }
    successes_ = 0;
    ++failures_;
    if (healthy_ && failures_ >= unhealthy_threshold) {
      healthy_ = false;
      return health_change::became_unhealthy;
    }
    return health_change::none;
  }

 private:
  bool healthy_ = true;
  std::uint32_t failures_ = 0;
  std::uint32_t successes_ = 0;
};

inline bool status_expected(unsigned status, const std::vector<config::status_range>& ranges) {
  for (const auto& r : ranges) {
    if (status >= r.low && status <= r.high) {
      return true;
    }
  }
  return false;
}

}  // namespace cohort::upstream
