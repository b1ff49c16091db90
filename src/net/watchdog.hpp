#pragma once
// One timer per connection enforces every deadline of that connection: an
// operation stores its deadline, and the watchdog cancels the connection's
// pending operations when it passes. The session then sees operation_aborted
// and asks expired() which deadline it was.

#include <chrono>
#include <cstdint>
#include <functional>

#include "common/monotonic.hpp"
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

  // From now on (until stop()), on_expiry runs each time a deadline passes; it
  // cancels the connection's pending operations. A plain timer handler, not a
  // coroutine beside the session: a coroutine would need a parallel group,
  // which attaches a cancellation slot to every operation of the session.
  void start(std::function<void()> on_expiry) {
    on_expiry_ = std::move(on_expiry);
    stopped_ = false;
    if (deadline_ < wake_) {
      schedule();
    }
  }

  void arm(duration d, deadline_kind kind) {
    deadline_ = coarse_now() + d;  // a tick early at most; arm() runs several times per request
    kind_ = kind;
    if (deadline_ < wake_ && !stopped_ && on_expiry_) {
      schedule();  // the timer sleeps past the new deadline
    }
  }
  void disarm() {
    deadline_ = clock::time_point::max();
    kind_ = deadline_kind::none;
  }
  deadline_kind expired() const { return expired_; }
  void reset_expired() { expired_ = deadline_kind::none; }

  void stop() {
    stopped_ = true;
    timer_.cancel();
  }
  // Completes once no timer handler is outstanding, after stop(): the owner
  // must not be destroyed before (a handler refers to this object).
  awaitable<void> settle();

  // Runs task watched: start(on_expiry), the task, then stop() and settle(),
  // also when the task throws (the exception is rethrown after).
  awaitable<void> watch(awaitable<void> task, std::function<void()> on_expiry);

 private:
  void schedule();
  void on_timer(const error_code& ec);

  steady_timer timer_;
  std::function<void()> on_expiry_;
  clock::time_point deadline_ = clock::time_point::max();
  clock::time_point wake_ = clock::time_point::max();
  unsigned waits_ = 0;  // timer waits whose handler has not run yet
  deadline_kind kind_ = deadline_kind::none;
  deadline_kind expired_ = deadline_kind::none;
  bool stopped_ = false;
};

}  // namespace cohort::net
