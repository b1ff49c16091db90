// The worker mailbox: work posted from other threads runs on the thread that
// runs the (lock-free) io_context, in the order it was posted, including work
// posted before delivery started, and it can stop that context.

#include "net/mailbox.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace cohort::net {
namespace {

using namespace std::chrono_literals;

struct worker_fixture {
  asio::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE};
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  mailbox box{io};
};

TEST(Mailbox, RunsPostedWorkOnTheOwnerThreadInOrder) {
  worker_fixture w;
  std::vector<int> seen;  // touched only by the owner thread
  std::thread::id ran_on;
  w.box.post([&] { seen.push_back(-1); });  // before start: kept
  w.box.start();
  std::thread owner([&] {
    ran_on = std::this_thread::get_id();
    w.io.run_for(10s);  // bounded: a lost stop fails the test instead of hanging it
  });
  constexpr int posters = 4;
  constexpr int each = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < posters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < each; ++i) {
        w.box.post([&seen, v = t * each + i] { seen.push_back(v); });
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  std::thread::id stopped_on;
  w.box.post([&] {
    stopped_on = std::this_thread::get_id();
    w.guard.reset();
    w.io.stop();
  });
  owner.join();
  EXPECT_EQ(stopped_on, ran_on);
  ASSERT_EQ(seen.size(), 1u + posters * each);
  EXPECT_EQ(seen.front(), -1);
  // Each poster's work arrives in its own order.
  std::vector<int> last(posters, -1);
  for (std::size_t k = 1; k < seen.size(); ++k) {
    const int t = seen[k] / each;
    const int i = seen[k] % each;
    EXPECT_EQ(i, last[t] + 1) << "poster " << t;
    last[t] = i;
  }
}

TEST(Mailbox, WakesAnIdleContext) {
  worker_fixture w;
  w.box.start();
  std::atomic<bool> ran{false};
  const auto started = std::chrono::steady_clock::now();
  std::thread owner([&] { w.io.run_for(10s); });
  std::this_thread::sleep_for(50ms);  // the owner is asleep in epoll_wait by now
  w.box.post([&] {
    ran = true;
    w.guard.reset();
    w.io.stop();
  });
  owner.join();
  EXPECT_TRUE(ran);
  // Woken by the post, not by run_for's limit.
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

}  // namespace
}  // namespace cohort::net
