#include <gtest/gtest.h>

#include <map>
#include <set>

#include "metrics/registry.hpp"
#include "model.hpp"

namespace cohort::metrics {
namespace {

const collected::request_series* find_request(const collected& c, std::string_view route,
                                              std::string_view subset) {
  for (const auto& s : c.requests) {
    if (s.route == route && s.subset == subset) {
      return &s;
    }
  }
  return nullptr;
}

TEST(registry, table_maps_snapshot_indexes_to_distinct_ids) {
  registry reg(2);
  const series_table t = reg.intern(testing::example_model());
  std::set<series_id> ids;
  for (std::uint32_t s = 0; s < 3; ++s) {
    ids.insert(t.request(0, s));
  }
  ids.insert(t.request(1, 0));
  ids.insert(t.request(-1, 0));
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(ids.count(no_series), 0u);
  // Out of range indexes are refused, not wrapped.
  EXPECT_EQ(t.request(1, 1), no_series);
  EXPECT_EQ(t.request(2, 0), no_series);
  EXPECT_EQ(t.upstream(0, 3), no_series);
  EXPECT_EQ(t.arm(-1, 0), no_series);
  EXPECT_EQ(t.arm(1, 0), no_series);
  EXPECT_NE(t.arm(0, 2), no_series);
  EXPECT_NE(t.decision(0, 2, decision_reason::bucket), t.decision(0, 2, decision_reason::pin));
  EXPECT_EQ(t.decision(-1, 0, decision_reason::bucket), no_series);
}

TEST(registry, reinterning_keeps_ids_and_adds_new_series) {
  registry reg(1);
  const series_table a = reg.intern(testing::example_model());
  auto model = testing::example_model();
  // A reload that inserts a route in front: indexes shift, ids follow the names.
  model.routes.insert(model.routes.begin(), {"health", 1});
  const series_table b = reg.intern(model);
  EXPECT_EQ(b.request(1, 2), a.request(0, 2));
  EXPECT_EQ(b.request(2, 0), a.request(1, 0));
  EXPECT_NE(b.request(0, 0), a.request(1, 0));
  EXPECT_EQ(b.arm(0, 1), a.arm(0, 1));
  EXPECT_EQ(*reg.find_arm("profile-api", "canary"), a.arm(0, 2));
  EXPECT_FALSE(reg.find_arm("profile-api", "nope").has_value());
}

TEST(registry, tunnels_open_is_opened_minus_closed_over_workers) {
  registry reg(2);
  const series_table t = reg.intern(testing::example_model());
  // Two canary tunnels on worker 0, one closed; one stable tunnel on worker 1.
  reg.worker(0).tunnel_opened(t.upstream(0, 2));
  reg.worker(0).tunnel_opened(t.upstream(0, 2));
  reg.worker(0).tunnel_closed(t.upstream(0, 2));
  reg.worker(1).tunnel_opened(t.upstream(0, 0));
  reg.worker(1).tunnel_opened(no_series);  // ignored, like every refused id
  std::map<std::string, std::uint64_t> open;
  for (const auto& u : reg.collect().upstreams) {
    if (u.service == "profile-api") {
      open[u.subset] = u.tunnels_open;
    }
  }
  EXPECT_EQ(open["canary"], 1u);
  EXPECT_EQ(open["stable"], 1u);
  EXPECT_EQ(open["baseline"], 0u);
  reg.worker(1).tunnel_closed(t.upstream(0, 0));
  reg.worker(0).tunnel_closed(t.upstream(0, 2));
  for (const auto& u : reg.collect().upstreams) {
    EXPECT_EQ(u.tunnels_open, 0u) << u.service << "/" << u.subset;
  }
}

TEST(registry, collect_merges_workers) {
  registry reg(3);
  const series_table t = reg.intern(testing::example_model());
  const listener_id pub = reg.intern_listener("public");
  reg.worker(0).record_request(t.request(0, 2), 200, 80'000'000, 100, 1000);
  reg.worker(1).record_request(t.request(0, 2), 200, 40'000'000, 10, 20);
  reg.worker(2).record_request(t.request(0, 2), 503, 1'000'000, 1, 2);
  reg.worker(2).record_request(t.request(-1, 0), 404, 50'000, 3, 4);
  reg.worker(0).record_upstream(t.upstream(0, 2), upstream_event::connect_failure);
  reg.worker(1).record_upstream(t.upstream(0, 2), upstream_event::timeout);
  reg.worker(1).record_upstream(t.upstream(0, 2), upstream_event::timeout);
  reg.worker(1).record_decision(t.decision(0, 2, decision_reason::bucket));
  reg.worker(2).record_decision(t.decision(0, 2, decision_reason::bucket));
  reg.worker(0).connection_opened(pub);
  reg.worker(1).connection_opened(pub);
  reg.worker(1).connection_closed(pub);
  reg.worker(0).tls_handshake_failed(pub);
  reg.worker(2).tls_handshake_failed(pub);

  const collected c = reg.collect();
  const auto* canary = find_request(c, "profile", "canary");
  ASSERT_NE(canary, nullptr);
  EXPECT_EQ(canary->service, "profile-api");
  ASSERT_EQ(canary->codes.size(), 2u);
  EXPECT_EQ(canary->codes[0], (std::pair<std::uint16_t, std::uint64_t>{200, 2}));
  EXPECT_EQ(canary->codes[1], (std::pair<std::uint16_t, std::uint64_t>{503, 1}));
  EXPECT_EQ(canary->requests(), 3u);
  EXPECT_EQ(canary->bytes_in, 111u);
  EXPECT_EQ(canary->bytes_out, 1022u);
  EXPECT_EQ(canary->latency.count(), 3u);
  EXPECT_EQ(canary->latency.sum_ns(), 121'000'000u);
  const auto* unrouted = find_request(c, "", "");
  ASSERT_NE(unrouted, nullptr);
  EXPECT_EQ(unrouted->requests(), 1u);

  bool saw_upstream = false;
  for (const auto& u : c.upstreams) {
    if (u.service == "profile-api" && u.subset == "canary") {
      saw_upstream = true;
      EXPECT_EQ(u.connect_failures, 1u);
      EXPECT_EQ(u.timeouts, 2u);
      EXPECT_EQ(u.resets, 0u);
    }
  }
  EXPECT_TRUE(saw_upstream);
  std::uint64_t bucket_decisions = 0;
  for (const auto& d : c.decisions) {
    if (d.subset == "canary" && d.reason == "bucket") {
      bucket_decisions += d.count;
    } else {
      EXPECT_EQ(d.count, 0u) << d.subset << " " << d.reason;
    }
  }
  EXPECT_EQ(bucket_decisions, 2u);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].open, 1u);
  EXPECT_EQ(c.listeners[0].accepted, 2u);
  EXPECT_EQ(c.listeners[0].tls_handshake_failures, 2u);
}

TEST(registry, more_than_sixteen_codes_spill_into_other) {
  registry reg(1);
  const series_table t = reg.intern(testing::example_model());
  std::uint64_t recorded = 0;
  for (std::uint16_t code = 200; code < 230; ++code) {
    for (int k = 0; k < 2; ++k) {
      reg.worker(0).record_request(t.request(0, 0), code, 1'000'000, 0, 0);
      ++recorded;
    }
  }
  reg.worker(0).record_request(t.request(0, 0), 0, 1'000'000, 0, 0);
  ++recorded;
  const collected c = reg.collect();
  const auto* s = find_request(c, "profile", "stable");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->codes.size(), status_slots);
  EXPECT_EQ(s->other_codes, 2u * (30 - status_slots) + 1);
  EXPECT_EQ(s->requests(), recorded);
}

TEST(registry, refused_ids_are_ignored_by_the_recorder) {
  registry reg(1);
  reg.worker(0).record_request(no_series, 200, 1, 1, 1);
  reg.worker(0).record_window(no_series, 5, 200, 1, false);
  reg.worker(0).record_decision(no_series);
  reg.worker(0).record_upstream(no_series, upstream_event::reset);
  reg.worker(0).connection_opened(no_series);
  const collected c = reg.collect();
  ASSERT_EQ(c.requests.size(), 1u);  // the unrouted series only
  EXPECT_EQ(c.requests[0].requests(), 0u);
}

}  // namespace
}  // namespace cohort::metrics
