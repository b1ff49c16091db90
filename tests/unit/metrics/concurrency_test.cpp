#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "metrics/registry.hpp"
#include "model.hpp"

namespace cohort::metrics {
namespace {

std::uint64_t canary_requests(const collected& c) {
  for (const auto& s : c.requests) {
    if (s.route == "profile" && s.subset == "canary") {
      return s.requests();
    }
  }
  return 0;
}

TEST(concurrency, two_writers_and_a_reader_end_exact) {
  registry reg(2);
  const series_table t = reg.intern(testing::example_model());
  const series_id series = t.request(0, 2);
  const series_id arm = t.arm(0, 2);
  const series_id decision = t.decision(0, 2, decision_reason::bucket);
  constexpr std::uint64_t per_writer = 300'000;
  constexpr std::uint64_t first_second = 50'000;
  constexpr std::uint64_t seconds = 60;  // each writer walks through 60 seconds

  std::atomic<int> running{2};
  const auto writer = [&](unsigned w) {
    shard& s = reg.worker(w);
    for (std::uint64_t i = 0; i < per_writer; ++i) {
      const std::uint64_t now = first_second + i * seconds / per_writer;
      const std::uint16_t status = i % 50 == 0 ? 502 : 200;
      s.record({series, arm, status, status >= 500, 1'000'000 + (i % 1000) * 100'000, 7, 9, now});
      s.record_decision(decision);
    }
    running.fetch_sub(1);
  };

  std::uint64_t reads = 0;
  bool monotone = true;
  std::thread reader([&] {
    std::uint64_t last_total = 0;
    std::uint64_t last_window = 0;
    while (running.load() > 0) {
      const std::uint64_t total = canary_requests(reg.collect());
      const window_stats w = reg.query(arm, 120, first_second + seconds);
      monotone = monotone && total >= last_total && w.requests >= last_window;
      last_total = total;
      last_window = w.requests;
      ++reads;
    }
  });
  std::thread a(writer, 0);
  std::thread b(writer, 1);
  a.join();
  b.join();
  reader.join();

  EXPECT_TRUE(monotone);
  EXPECT_GT(reads, 0u);
  const collected c = reg.collect();
  EXPECT_EQ(canary_requests(c), 2 * per_writer);
  for (const auto& s : c.requests) {
    if (s.route == "profile" && s.subset == "canary") {
      EXPECT_EQ(s.latency.count(), 2 * per_writer);
      EXPECT_EQ(s.bytes_in, 2 * per_writer * 7);
      EXPECT_EQ(s.bytes_out, 2 * per_writer * 9);
    }
  }
  for (const auto& d : c.decisions) {
    if (d.subset == "canary" && d.reason == "bucket") {
      EXPECT_EQ(d.count, 2 * per_writer);
    }
  }
  const window_stats w = reg.query(arm, 120, first_second + seconds);
  EXPECT_EQ(w.requests, 2 * per_writer);
  EXPECT_EQ(w.errors, 2 * (per_writer / 50));
  EXPECT_EQ(w.latency.count(), 2 * per_writer);
}

}  // namespace
}  // namespace cohort::metrics
