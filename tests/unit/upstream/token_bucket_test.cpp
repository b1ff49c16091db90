#include "upstream/token_bucket.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace cohort::upstream {
namespace {

constexpr std::int64_t second = 1'000'000'000;

TEST(TokenBucket, AdmitsTheBurstThenOnePerInterval) {
  token_bucket b(50, 100);  // 20ms per token
  const std::int64_t t0 = 1000 * second;
  int admitted = 0;
  for (int i = 0; i < 150; ++i) {
    admitted += b.try_take(t0).admitted ? 1 : 0;
  }
  EXPECT_EQ(admitted, 100);
  const auto refused = b.try_take(t0);
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.retry_after_ns, 20'000'000);
  // 19ms later: still nothing; at 20ms exactly one token.
  EXPECT_FALSE(b.try_take(t0 + 19'000'000).admitted);
  EXPECT_TRUE(b.try_take(t0 + 20'000'000).admitted);
  EXPECT_FALSE(b.try_take(t0 + 20'000'000).admitted);
}

TEST(TokenBucket, RateOverALongRunIsExact) {
  token_bucket b(10, 1);
  const std::int64_t t0 = 5 * second;
  int admitted = 0;
  // Asking every millisecond for 10 seconds: 10/s, plus the one initial token.
  for (std::int64_t ms = 0; ms < 10'000; ++ms) {
    admitted += b.try_take(t0 + ms * 1'000'000).admitted ? 1 : 0;
  }
  EXPECT_EQ(admitted, 100);
}

TEST(TokenBucket, AnIdleBucketRefillsOnlyUpToItsSize) {
  token_bucket b(100, 5);
  const std::int64_t t0 = 5 * second;
  EXPECT_TRUE(b.try_take(t0).admitted);
  int admitted = 0;
  for (int i = 0; i < 50; ++i) {
    admitted += b.try_take(t0 + 60 * second).admitted ? 1 : 0;
  }
  EXPECT_EQ(admitted, 5);
}

TEST(TokenBucket, ReconfiguringKeepsTheFillLevel) {
  token_bucket b(1, 2);
  const std::int64_t t0 = 5 * second;
  EXPECT_TRUE(b.try_take(t0).admitted);
  EXPECT_TRUE(b.try_take(t0).admitted);
  EXPECT_FALSE(b.try_take(t0).admitted);
  b.configure(1000, 2);                   // 1ms per token now
  EXPECT_FALSE(b.try_take(t0).admitted);  // the old debt is 2s ahead
  b.configure(1, 4);
  EXPECT_TRUE(b.try_take(t0).admitted);  // a bigger bucket has room at once
}

TEST(TokenBucket, ConcurrentTakersNeverExceedTheBudget) {
  token_bucket b(1, 1000);  // the burst is the whole budget at a fixed time
  const std::int64_t t0 = 5 * second;
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        if (b.try_take(t0).admitted) {
          admitted.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(admitted.load(), 1000);
}

}  // namespace
}  // namespace cohort::upstream
