// The connection watchdog: one timer, deadlines moved by arm(), expiry as a
// plain callback, and settle() so its owner can be destroyed safely.

#include "net/watchdog.hpp"

#include <gtest/gtest.h>

#include <time.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <stdexcept>

namespace cohort::net {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST(Watchdog, ExpiryRunsOnceWithTheKind) {
  asio::io_context io;
  watchdog dog(io);
  int fired = 0;
  dog.start([&] { ++fired; });
  dog.arm(duration{20}, deadline_kind::header);
  io.run_for(300ms);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(dog.expired(), deadline_kind::header);
}

TEST(Watchdog, AnEarlierDeadlineWakesTheTimerEarlier) {
  asio::io_context io;
  watchdog dog(io);
  clock_type::time_point fired_at{};
  dog.start([&] { fired_at = clock_type::now(); });
  const auto t0 = clock_type::now();
  dog.arm(duration{10000}, deadline_kind::idle);
  dog.arm(duration{30}, deadline_kind::upstream_response);
  io.run_for(2s);
  ASSERT_NE(fired_at, clock_type::time_point{});
  EXPECT_LT(fired_at - t0, 1s);
  // Deadlines come from the coarse clock: a tick or so early (two allowed).
  timespec tick{};
  ::clock_getres(CLOCK_MONOTONIC_COARSE, &tick);
  EXPECT_GE(fired_at - t0, 30ms - 2 * std::chrono::nanoseconds(tick.tv_nsec));
  EXPECT_EQ(dog.expired(), deadline_kind::upstream_response);
}

TEST(Watchdog, ALaterDeadlineIsNotCutShort) {
  asio::io_context io;
  watchdog dog(io);
  int fired = 0;
  dog.start([&] { ++fired; });
  dog.arm(duration{20}, deadline_kind::header);
  dog.arm(duration{10000}, deadline_kind::idle);  // moved later before it passed
  io.run_for(200ms);
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(dog.expired(), deadline_kind::none);
}

TEST(Watchdog, DisarmedDeadlineNeverFires) {
  asio::io_context io;
  watchdog dog(io);
  int fired = 0;
  dog.start([&] { ++fired; });
  dog.arm(duration{20}, deadline_kind::client_io);
  dog.disarm();
  io.run_for(150ms);
  EXPECT_EQ(fired, 0);
}

TEST(Watchdog, StopThenSettleLeavesNoHandlerBehind) {
  asio::io_context io;
  auto dog = std::make_unique<watchdog>(io);
  int fired = 0;
  bool settled = false;
  dog->start([&] { ++fired; });
  dog->arm(duration{10}, deadline_kind::header);
  dog->arm(duration{5}, deadline_kind::header);  // two waits outstanding
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        dog->stop();
        co_await dog->settle();
        settled = true;
        dog.reset();  // safe now: nothing refers to it any more
      },
      asio::detached);
  io.run_for(200ms);
  EXPECT_TRUE(settled);
  EXPECT_EQ(dog, nullptr);
  EXPECT_EQ(fired, 0);
}

TEST(Watchdog, WatchCancelsAStalledTaskAndRethrowsFailures) {
  asio::io_context io;
  watchdog dog(io);
  steady_timer stalled(io, clock_type::time_point::max());
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        co_await dog.watch(
            [&]() -> awaitable<void> {
              dog.arm(duration{20}, deadline_kind::upstream_io);
              co_await stalled.async_wait(use_nothrow);  // cancelled by the expiry
            }(),
            [&] { stalled.cancel(); });
        finished = true;
      },
      asio::detached);
  io.run_for(2s);
  EXPECT_TRUE(finished);
  EXPECT_EQ(dog.expired(), deadline_kind::upstream_io);

  watchdog dog2(io);
  bool caught = false;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        try {
          co_await dog2.watch(
              [&]() -> awaitable<void> {
                dog2.arm(duration{10000}, deadline_kind::idle);
                throw std::runtime_error("task failed");
                co_return;
              }(),
              [] {});
        } catch (const std::runtime_error&) {
          caught = true;
        }
      },
      asio::detached);
  io.restart();
  io.run_for(500ms);
  EXPECT_TRUE(caught);
}

}  // namespace
}  // namespace cohort::net
