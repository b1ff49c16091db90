#pragma once
// How many retries one worker may have in flight: a share of its active
// requests, with a floor so a quiet worker can still retry. Retries past it
// are not made (the first attempt's error goes to the client), so a sick
// upstream cannot make the gateway multiply its load. Pure; one per worker.

#include <cstdint>

#include "common/units.hpp"

namespace cohort::upstream {

class retry_budget {
 public:
  // active: requests in flight on the worker (including the one asking).
  bool try_acquire(std::uint64_t active, basis_points share, std::uint32_t min_concurrency) {
    if (in_flight_ < min_concurrency ||
        (in_flight_ + 1) * full_share <= active * static_cast<std::uint64_t>(share)) {
      ++in_flight_;
      return true;
    }
    return false;
  }
  void release() {
    if (in_flight_ > 0) {
      --in_flight_;
    }
  }
  std::uint64_t in_flight() const { return in_flight_; }

 private:
  std::uint64_t in_flight_ = 0;
};

}  // namespace cohort::upstream
