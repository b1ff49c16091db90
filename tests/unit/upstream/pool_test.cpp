// The pool's view of shared health, drained subsets and rate limiters, on
// snapshots built from YAML (no sockets are opened).

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "common/monotonic.hpp"
#include "config/loader.hpp"
#include "routing/snapshot.hpp"
#include "upstream/drain.hpp"
#include "upstream/pool.hpp"

namespace cohort::upstream {
namespace {

const std::string base = R"(gateway:
  listeners: [{name: p, address: 127.0.0.1:0}]
  workers: 1
services:
  - name: api
    subsets:
      stable: { endpoints: [127.0.0.1:9001] }
      canary: { endpoints: [127.0.0.1:9002, 127.0.0.1:9003], rate_limit: {requests_per_second: 5, burst: 2} }
      baseline: { endpoints: [127.0.0.1:9004] }
routes:
  - { name: r, match: { path_prefix: / }, service: api }
rollouts:
  - name: ro
    service: api
    baseline: baseline
    weight: 10%
    session: { key: [{header: x-user}] }
)";

std::shared_ptr<const routing::snapshot> build(const std::string& yaml,
                                               const routing::rollout_states& states = {}) {
  auto loaded = config::load_config_text(yaml, "t.yaml");
  EXPECT_TRUE(loaded.ok());
  auto snap = routing::snapshot::build(std::move(loaded).value(), states);
  EXPECT_TRUE(snap.ok());
  return std::move(snap).value();
}

routing::rollout_states phase(routing::rollout_state::mode m, basis_points weight = 1000) {
  routing::rollout_state s;
  s.phase = m;
  s.weight = weight;
  return {{"ro", s}};
}

// An open (unconnected but open) socket stands for a finished exchange's connection.
std::unique_ptr<connection> open_connection(net::asio::io_context& ctx, endpoint_state* ep) {
  net::tcp_socket s(ctx);
  s.open(net::tcp::v4());
  return std::make_unique<connection>(net::duplex(std::move(s)), ep, nullptr);
}

constexpr std::size_t stable = 0, canary = 1, baseline = 2;

TEST(SubsetsInUse, FollowTheRolloutPhase) {
  using mode = routing::rollout_state::mode;
  EXPECT_EQ(subsets_in_use(*build(base))[0], (std::vector<bool>{true, true, true}));
  EXPECT_EQ(subsets_in_use(*build(base, phase(mode::progressing, 0)))[0],
            (std::vector<bool>{true, false, false}));
  EXPECT_EQ(subsets_in_use(*build(base, phase(mode::rolled_back)))[0],
            (std::vector<bool>{true, false, false}));
  EXPECT_EQ(subsets_in_use(*build(base, phase(mode::promoted)))[0],
            (std::vector<bool>{false, true, false}));
}

TEST(SubsetsInUse, PinnedCohortsKeepTheirSubset) {
  using mode = routing::rollout_state::mode;
  const std::string pinned = base + R"(    cohorts:
      - { name: staff, match: { headers: [{name: x-staff, present: true}] }, pin: stable }
)";
  EXPECT_EQ(subsets_in_use(*build(pinned, phase(mode::promoted)))[0],
            (std::vector<bool>{true, true, false}));
}

TEST(Pool, PickAndRotationSkipUnhealthyEndpoints) {
  net::asio::io_context ctx;
  shared_table shared;
  pool p(ctx, &shared);
  const auto snap = build(base);
  p.attach(*snap);
  const steady_time now{};
  EXPECT_EQ(p.in_rotation(0, canary, now), 2u);
  shared.health_flag("127.0.0.1:9002")->store(false);
  EXPECT_EQ(p.in_rotation(0, canary, now), 1u);
  for (int i = 0; i < 4; ++i) {
    auto* ep = p.pick(0, canary, config::lb_policy::round_robin, now);
    ASSERT_NE(ep, nullptr);
    EXPECT_EQ(ep->key, "127.0.0.1:9003");
  }
  shared.health_flag("127.0.0.1:9003")->store(false);
  EXPECT_EQ(p.in_rotation(0, canary, now), 0u);
  EXPECT_EQ(p.pick(0, canary, config::lb_policy::round_robin, now), nullptr);
  // The flags are the shared ones: a second pool sees the same verdicts.
  pool other(ctx, &shared);
  other.attach(*snap);
  EXPECT_EQ(other.in_rotation(0, canary, now), 0u);
  EXPECT_EQ(other.in_rotation(0, stable, now), 1u);
}

TEST(Pool, LimitersAreSharedAndOnlyWhereConfigured) {
  net::asio::io_context ctx;
  shared_table shared;
  pool a(ctx, &shared);
  pool b(ctx, &shared);
  const auto snap = build(base);
  a.attach(*snap);
  b.attach(*snap);
  EXPECT_EQ(a.limiter(0, stable), nullptr);
  ASSERT_NE(a.limiter(0, canary), nullptr);
  EXPECT_EQ(a.limiter(0, canary), b.limiter(0, canary));
  EXPECT_EQ(a.limiter(0, canary)->interval_ns(), 200'000'000);
  EXPECT_EQ(a.limiter(0, baseline), nullptr);
  EXPECT_EQ(a.limiter(7, canary), nullptr);
}

TEST(Pool, ReleaseDoesNotKeepConnectionsOfDrainedEndpoints) {
  using mode = routing::rollout_state::mode;
  net::asio::io_context ctx;
  pool p(ctx);
  p.attach(*build(base, phase(mode::rolled_back)));
  auto* canary_ep = p.pick(0, canary, config::lb_policy::round_robin, steady_time{});
  auto* stable_ep = p.pick(0, stable, config::lb_policy::round_robin, steady_time{});
  ASSERT_NE(canary_ep, nullptr);
  ASSERT_NE(stable_ep, nullptr);
  EXPECT_TRUE(canary_ep->drain);
  EXPECT_FALSE(stable_ep->drain);
  p.release(open_connection(ctx, canary_ep), true);
  p.release(open_connection(ctx, stable_ep), true);
  EXPECT_EQ(p.idle_count(canary_ep->key), 0u);
  EXPECT_EQ(p.idle_count(stable_ep->key), 1u);
  // Promotion: stable loses its users, its idle connection is closed at attach.
  p.attach(*build(base, phase(mode::promoted)));
  EXPECT_EQ(p.idle_count(stable_ep->key), 0u);
  EXPECT_FALSE(canary_ep->drain);
  p.release(open_connection(ctx, canary_ep), true);
  EXPECT_EQ(p.idle_count(canary_ep->key), 1u);
}

TEST(Pool, TakeIdleHandsBackTheLastReleasedConnectionMarkedReused) {
  net::asio::io_context ctx;
  pool p(ctx);
  p.attach(*build(base));
  auto* ep = p.pick(0, stable, config::lb_policy::round_robin, steady_time{});
  ASSERT_NE(ep, nullptr);
  EXPECT_EQ(p.take_idle(*ep), nullptr);  // nothing idle yet: the caller connects
  auto first = open_connection(ctx, ep);
  auto second = open_connection(ctx, ep);
  const connection* second_at = second.get();
  p.release(std::move(first), true);
  p.release(std::move(second), true);
  auto taken = p.take_idle(*ep);
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(taken.get(), second_at);  // most recently used first: few connections stay hot
  EXPECT_TRUE(taken->reused);
  EXPECT_EQ(p.idle_count(ep->key), 1u);
}

TEST(Pool, IdleConnectionsCloseAfterTheIdleTimeout) {
  net::asio::io_context ctx;
  pool p(ctx);
  std::string yaml = base;
  yaml.replace(yaml.find("  workers: 1\n"), 13,
               "  workers: 1\n  limits: { idle_timeout: 200ms }\n");
  p.attach(*build(yaml));
  auto* ep = p.pick(0, stable, config::lb_policy::round_robin, steady_time{});
  ASSERT_NE(ep, nullptr);
  const auto start = std::chrono::steady_clock::now();
  p.release(open_connection(ctx, ep), true);
  p.release(open_connection(ctx, ep), true);
  EXPECT_EQ(p.idle_count(ep->key), 2u);
  // The pool's timer closes them; with nothing else to do, run() returns then.
  ctx.run_for(std::chrono::seconds(5));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(p.idle_count(ep->key), 0u);
  // Not before the timeout (less one tick of the coarse clock it is kept by).
  EXPECT_GE(took, std::chrono::milliseconds(150));
  EXPECT_LT(took, std::chrono::seconds(2));
}

TEST(Pool, CloseIdleBeforeTakesOnlyTheOlderConnections) {
  net::asio::io_context ctx;
  pool p(ctx);
  p.attach(*build(base));
  auto* ep = p.pick(0, stable, config::lb_policy::round_robin, steady_time{});
  ASSERT_NE(ep, nullptr);
  p.release(open_connection(ctx, ep), true);
  const auto between = coarse_now() + std::chrono::milliseconds(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto newer = open_connection(ctx, ep);
  const connection* newer_at = newer.get();
  p.release(std::move(newer), true);
  EXPECT_EQ(p.close_idle_before(between), 1u);
  EXPECT_EQ(p.idle_count(ep->key), 1u);
  auto kept = p.take_idle(*ep);
  EXPECT_EQ(kept.get(), newer_at);
  EXPECT_EQ(p.close_idle_before(coarse_now() + std::chrono::hours(1)), 0u);  // nothing idle left
}

}  // namespace
}  // namespace cohort::upstream
