#pragma once
// Passive outlier detection of one endpoint, as seen by one worker: a pure
// state machine fed with the results of exchanges and the time. The pool owns
// one per endpoint; nothing here is shared between workers.

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "common/units.hpp"
#include "config/config.hpp"

namespace cohort::upstream {

using steady_time = std::chrono::steady_clock::time_point;

// Ejection time grows with repeats up to this multiple of base_ejection, so a
// flapping endpoint is not exiled for hours.
inline constexpr std::uint32_t max_ejection_multiplier = 10;

class outlier_state {
 public:
  bool ejected(steady_time now) const { return now < ejected_until_; }
  std::uint32_t consecutive_errors() const { return consecutive_; }
  std::uint32_t ejections() const { return ejections_; }
  steady_time ejected_until() const { return ejected_until_; }

  // Counts one result. True when the endpoint has just reached the threshold
  // and should be ejected (the caller checks the subset's ejection share and
  // then calls eject()). Results that arrive while ejected (requests already
  // in flight) change nothing.
  bool record(bool failure, steady_time now, const config::outlier_config& policy) {
    if (ejected(now)) {
      return false;
    }
    forget_old_ejections(now, policy);
    if (!failure) {
      consecutive_ = 0;
      return false;
    }
    ++consecutive_;
    return policy.enabled && consecutive_ >= policy.consecutive_errors;
  }

  // Out of the pick for base_ejection x (times ejected), capped.
  void eject(steady_time now, const config::outlier_config& policy) {
    if (ejections_ < max_ejection_multiplier) {
      ++ejections_;
    }
    consecutive_ = 0;
    ejected_until_ = now + policy.base_ejection * ejections_;
  }

 private:
  // An endpoint that stayed in rotation for as long as its last ejection
  // lasted starts over: the next ejection is short again.
  void forget_old_ejections(steady_time now, const config::outlier_config& policy) {
    if (ejections_ > 0 && now >= ejected_until_ + policy.base_ejection * ejections_) {
      ejections_ = 0;
    }
  }

  std::uint32_t consecutive_ = 0;
  std::uint32_t ejections_ = 0;
  steady_time ejected_until_{};
};

// May one more endpoint of a subset of `total` be ejected, when `ejected` are
// out already, without exceeding the share `max`? A subset of one endpoint
// can lose it only when max is 100%.
inline bool may_eject(std::size_t ejected, std::size_t total, basis_points max) {
  if (total == 0) {
    return false;
  }
  return (ejected + 1) * full_share <= static_cast<std::uint64_t>(max) * total;
}

}  // namespace cohort::upstream
