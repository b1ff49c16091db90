#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "metrics/registry.hpp"
#include "model.hpp"

namespace cohort::metrics {
namespace {

struct window : ::testing::Test {
  registry reg{2};
  series_table t = reg.intern(testing::example_model());
  series_id canary = t.arm(0, 2);
  series_id baseline = t.arm(0, 1);

  void hit(unsigned worker, series_id arm, std::uint64_t now_s, std::uint16_t status,
           std::uint64_t ns) {
    reg.worker(worker).record_window(arm, now_s, status, ns, status >= 500);
  }
};

TEST_F(window, counts_land_in_their_second) {
  for (int i = 0; i < 10; ++i) {
    hit(0, canary, 1000, 200, 80'000'000);
  }
  for (int i = 0; i < 3; ++i) {
    hit(1, canary, 1001, 200, 90'000'000);
  }
  hit(1, canary, 1001, 503, 5'000'000);
  hit(0, canary, 1001, 404, 5'000'000);
  hit(0, baseline, 1001, 200, 5'000'000);

  const window_stats one = reg.query(canary, 1, 1001);
  EXPECT_EQ(one.first_second, 1001u);
  EXPECT_EQ(one.requests, 5u);
  EXPECT_EQ(one.errors, 1u);
  EXPECT_EQ(one.classes[1], 3u);
  EXPECT_EQ(one.classes[3], 1u);
  EXPECT_EQ(one.classes[4], 1u);
  EXPECT_DOUBLE_EQ(one.success_rate, 0.8);

  const window_stats two = reg.query(canary, 2, 1001);
  EXPECT_EQ(two.requests, 15u);
  ASSERT_EQ(two.per_second.size(), 2u);
  EXPECT_EQ(two.per_second[0].second, 1000u);
  EXPECT_EQ(two.per_second[0].requests, 10u);
  EXPECT_EQ(two.per_second[1].requests, 5u);
  EXPECT_EQ(two.latency.count(), 15u);
  EXPECT_NEAR(two.p50, 0.080, 0.080 * 0.032);

  // Asking about an earlier second excludes the later one.
  EXPECT_EQ(reg.query(canary, 30, 1000).requests, 10u);
  EXPECT_EQ(reg.query(baseline, 30, 1001).requests, 1u);

  const second_stats s = reg.second(canary, 1001);
  EXPECT_EQ(s.counts.requests, 5u);
  EXPECT_EQ(s.counts.errors, 1u);
  EXPECT_EQ(s.latency.count(), 5u);
}

TEST_F(window, old_slots_expire) {
  hit(0, canary, 1000, 200, 1'000'000);
  hit(0, canary, 1001, 200, 1'000'000);
  EXPECT_EQ(reg.query(canary, 30, 1029).requests, 2u);
  EXPECT_EQ(reg.query(canary, 30, 1030).requests, 1u);  // 1000 left the 30 s window
  EXPECT_EQ(reg.query(canary, 30, 1031).requests, 0u);
  // Not yet overwritten, but out of any window the ring can answer.
  EXPECT_EQ(reg.query(canary, 500, 1000 + window_slots).requests, 1u);
  // The ring reuses 1000's slot for 1128: 1000 is gone for good.
  hit(0, canary, 1000 + window_slots, 200, 1'000'000);
  EXPECT_EQ(reg.second(canary, 1000).counts.requests, 0u);
  EXPECT_EQ(reg.second(canary, 1000 + window_slots).counts.requests, 1u);
  EXPECT_EQ(reg.query(canary, window_slots, 1000 + window_slots).requests, 2u);
  // A late sample for a second the slot no longer holds is dropped, not mixed in.
  hit(0, canary, 1000, 200, 1'000'000);
  EXPECT_EQ(reg.second(canary, 1000 + window_slots).counts.requests, 1u);
}

TEST_F(window, empty_window_is_nan_not_perfect) {
  const window_stats w = reg.query(canary, 30, 5000);
  EXPECT_EQ(w.requests, 0u);
  EXPECT_TRUE(std::isnan(w.success_rate));
  EXPECT_TRUE(std::isnan(w.p99));
  EXPECT_EQ(w.per_second.size(), 30u);
  // Early in the clock's life the window starts at second 0.
  EXPECT_EQ(reg.query(canary, 30, 4).per_second.size(), 5u);
  EXPECT_EQ(reg.query(canary, 0, 4).requests, 0u);
}

TEST_F(window, queries_agree_with_counters_and_a_reference) {
  // 100 seconds of random traffic on two workers; an exact reference per second.
  std::mt19937_64 rng(99);
  std::lognormal_distribution<double> latency(std::log(60e6), 0.5);
  std::uniform_int_distribution<int> per_second(0, 300);
  std::uniform_real_distribution<double> u(0, 1);
  struct ref {
    std::uint64_t requests = 0;
    std::uint64_t errors = 0;
    std::array<std::uint64_t, 5> classes{};
    std::vector<std::uint64_t> ns;
  };
  std::map<std::uint64_t, ref> truth;
  const std::uint64_t start = 10'000;
  const std::uint64_t end = start + 100;
  std::uint64_t total = 0;
  for (std::uint64_t sec = start; sec < end; ++sec) {
    const int n = per_second(rng);
    for (int i = 0; i < n; ++i) {
      const double r = u(rng);
      const std::uint16_t status = r < 0.02 ? 503 : r < 0.05 ? 404 : r < 0.06 ? 302 : 200;
      const auto ns = static_cast<std::uint64_t>(latency(rng));
      const bool error = status >= 500;
      reg.worker(i % 2).record({t.request(0, 2), canary, status, error, ns, 10, 20, sec});
      auto& e = truth[sec];
      ++e.requests;
      e.errors += error ? 1 : 0;
      ++e.classes[status / 100 - 1];
      e.ns.push_back(ns);
      ++total;
    }
  }
  const std::uint64_t now = end - 1;
  for (const std::uint32_t n : {1u, 5u, 30u, 60u, 100u, 120u}) {
    const window_stats w = reg.query(canary, n, now);
    ref want;
    window_histogram reference;
    for (std::uint64_t sec = now + 1 - std::min<std::uint64_t>(n, 100); sec <= now; ++sec) {
      const auto& e = truth[sec];
      want.requests += e.requests;
      want.errors += e.errors;
      for (std::size_t c = 0; c < 5; ++c) {
        want.classes[c] += e.classes[c];
      }
      for (const auto ns : e.ns) {
        reference.record(ns);
      }
    }
    EXPECT_EQ(w.requests, want.requests) << n;
    EXPECT_EQ(w.errors, want.errors) << n;
    EXPECT_EQ(w.classes, want.classes) << n;
    EXPECT_EQ(w.latency.buckets(), reference.buckets()) << n;
    EXPECT_EQ(w.latency.sum_ns(), reference.sum_ns()) << n;
    EXPECT_DOUBLE_EQ(w.p99, reference.quantile_seconds(0.99)) << n;
    std::uint64_t per_second_sum = 0;
    for (const auto& p : w.per_second) {
      EXPECT_EQ(p.requests, truth.count(p.second) ? truth[p.second].requests : 0u);
      per_second_sum += p.requests;
    }
    EXPECT_EQ(per_second_sum, w.requests);
  }
  // The whole window equals the Prometheus counters of the same requests.
  const collected c = reg.collect();
  for (const auto& s : c.requests) {
    if (s.route == "profile" && s.subset == "canary") {
      EXPECT_EQ(s.requests(), total);
      EXPECT_EQ(reg.query(canary, 120, now).requests, total);
    }
  }
}

}  // namespace
}  // namespace cohort::metrics
