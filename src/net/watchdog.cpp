#include "net/watchdog.hpp"

namespace cohort::net {

awaitable<void> watchdog::run(std::function<void()> on_expiry) {
  while (!stopped_) {
    const auto now = clock::now();
    if (deadline_ <= now) {
      expired_ = kind_;
      deadline_ = clock::time_point::max();
      on_expiry();
      continue;
    }
    wake_ = deadline_;
    timer_.expires_at(wake_);
    co_await timer_.async_wait(use_nothrow);
    wake_ = clock::time_point::max();
  }
}

}  // namespace cohort::net
