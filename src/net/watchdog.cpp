#include "net/watchdog.hpp"

#include <boost/asio/post.hpp>
#include <exception>

namespace cohort::net {

void watchdog::schedule() {
  wake_ = deadline_;
  timer_.expires_at(wake_);  // a pending wait completes with operation_aborted
  ++waits_;
  timer_.async_wait([this](const error_code& ec) { on_timer(ec); });
}

void watchdog::on_timer(const error_code& ec) {
  --waits_;
  if (ec == asio::error::operation_aborted || stopped_) {
    return;  // stopped, or replaced by a wait for an earlier deadline
  }
  wake_ = clock::time_point::max();
  if (deadline_ == clock::time_point::max()) {
    return;  // disarmed; the next arm() schedules
  }
  if (deadline_ <= clock::now()) {
    expired_ = kind_;
    deadline_ = clock::time_point::max();
    on_expiry_();
    return;
  }
  schedule();
}

awaitable<void> watchdog::settle() {
  // The handlers stop() cancelled are queued already; each post runs after them.
  while (waits_ > 0) {
    co_await asio::post(timer_.get_executor(), asio::deferred);
  }
}

awaitable<void> watchdog::watch(awaitable<void> task, std::function<void()> on_expiry) {
  start(std::move(on_expiry));
  std::exception_ptr failure;
  try {
    co_await std::move(task);
  } catch (...) {
    failure = std::current_exception();
  }
  stop();
  if (waits_ > 0) {  // settle() is a frame of its own: only when there is something to wait for
    co_await settle();
  }
  if (failure) {
    std::rethrow_exception(failure);
  }
}

}  // namespace cohort::net
