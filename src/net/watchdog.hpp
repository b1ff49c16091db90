#pragma once
// One timer per connection enforces every deadline of that connection: an
// operation stores its deadline, and the watchdog cancels the connection's
// pending operations when it passes. The session then sees operation_aborted
// and asks expired() which deadline it was.

#include <chrono>
#include <cstdint>
#include <functional>

#include "common/units.hpp"
#include "net/asio.hpp"

namespace cohort::net {

enum class deadline_kind : std::uint8_t {
  none,
  idle,               // keep-alive wait for the next request: close quietly
  header,             // request head not complete in time -> 408
  client_io,          // stalled request body read or response write
  upstream_response,  // request_timeout waiting for the response head -> 504
  upstream_io,        // stalled upstream body read or write
  drain,              // shutdown deadline passed
};

class watchdog {
 public:
  using clock = std::chrono::steady_clock;

  explicit watchdog(asio::io_context& ctx) : timer_(ctx) {}

  void arm(duration d, deadline_kind kind) {
    deadline_ = clock::now() + d;
    kind_ = kind;
    if (deadline_ < wake_) {
      // The timer sleeps past the new deadline: wake it to re-arm.
      timer_.cancel();
    }
  }
  void disarm() {
    deadline_ = clock::time_point::max();
    kind_ = deadline_kind::none;
  }
  deadline_kind expired() const { return expired_; }
  void reset_expired() { expired_ = deadline_kind::none; }

  // Runs until stop(). on_expiry cancels the connection's pending operations.
  awaitable<void> run(std::function<void()> on_expiry);
  void stop() {
    stopped_ = true;
    timer_.cancel();
  }

 private:
  asio::steady_timer timer_;
  clock::time_point deadline_ = clock::time_point::max();
  clock::time_point wake_ = clock::time_point::max();
  deadline_kind kind_ = deadline_kind::none;
  deadline_kind expired_ = deadline_kind::none;
  bool stopped_ = false;
};

}  // namespace cohort::net
