// Which tunnels a published snapshot ends: only a rollback moves users, and
// only those on the rollout's canary and baseline.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader.hpp"
#include "proxy/tunnel_registry.hpp"
#include "routing/decision.hpp"

namespace cohort::proxy {
namespace {

using std::chrono::milliseconds;

const std::string yaml = R"(gateway:
  listeners: [{name: p, address: 127.0.0.1:0}]
services:
  - name: api
    subsets:
      stable: { endpoints: [127.0.0.1:9001] }
      baseline: { endpoints: [127.0.0.1:9002] }
      canary: { endpoints: [127.0.0.1:9003] }
  - name: other
    subsets:
      stable: { endpoints: [127.0.0.1:9004] }
routes:
  - { name: api, match: { path_prefix: /api }, service: api }
  - { name: other, match: { path_prefix: / }, service: other }
rollouts:
  - name: api-rollout
    service: api
    baseline: baseline
    session: { key: [{ header: X-User-Id }], anonymous: stable }
    weight: 30%
)";

std::shared_ptr<const routing::snapshot> build(routing::rollout_states states,
                                               const std::string& text = yaml) {
  auto cfg = config::load_config_text(text, "t.yaml");
  std::string problems;
  if (!cfg) {
    for (const auto& d : cfg.err()) {
      problems += d.to_string() + "\n";
    }
  }
  EXPECT_TRUE(cfg.ok()) << problems;
  auto snap = routing::snapshot::build(std::move(cfg).value(), states);
  EXPECT_TRUE(snap.ok());
  return std::move(snap).value();
}

routing::rollout_states rolled_back() {
  routing::rollout_states s;
  s["api-rollout"].phase = routing::rollout_state::mode::rolled_back;
  return s;
}

tunnel_identity tunnel_on(std::string subset, std::string rollout = "api-rollout",
                          std::string service = "api") {
  return {std::move(service), std::move(subset), std::move(rollout),
          routing::reason_kind::bucket_canary};
}

class fake_tunnel final : public closable_tunnel {
 public:
  void close_after(duration grace) override { calls.push_back(grace); }
  std::vector<duration> calls;
};

TEST(TunnelFate, ProgressingKeepsEveryone) {
  const auto snap = build({});
  for (const char* subset : {"stable", "baseline", "canary"}) {
    EXPECT_EQ(fate_of(tunnel_on(subset), *snap), tunnel_fate::keep) << subset;
  }
}

TEST(TunnelFate, RollbackEndsCanaryAndBaselineOnly) {
  const auto snap = build(rolled_back());
  EXPECT_EQ(fate_of(tunnel_on("canary"), *snap), tunnel_fate::rolled_back);
  EXPECT_EQ(fate_of(tunnel_on("baseline"), *snap), tunnel_fate::rolled_back);
  EXPECT_EQ(fate_of(tunnel_on("stable"), *snap), tunnel_fate::keep);
  // A tunnel no rollout routed (another route) is untouched.
  EXPECT_EQ(fate_of(tunnel_on("stable", "", "other"), *snap), tunnel_fate::keep);
}

TEST(TunnelFate, PromotionAndWeightChangesMoveNoOne) {
  routing::rollout_states promoted;
  promoted["api-rollout"].phase = routing::rollout_state::mode::promoted;
  promoted["api-rollout"].weight = full_share;
  EXPECT_EQ(fate_of(tunnel_on("stable"), *build(promoted)), tunnel_fate::keep);
  routing::rollout_states lower;
  lower["api-rollout"].weight = 100;
  EXPECT_EQ(fate_of(tunnel_on("canary"), *build(lower)), tunnel_fate::keep);
}

TEST(TunnelFate, RemovedSubsetEndsItsTunnelsRemovedRolloutRetiresInPlace) {
  std::string without_rollout = yaml.substr(0, yaml.find("rollouts:"));
  EXPECT_EQ(fate_of(tunnel_on("canary"), *build({}, without_rollout)), tunnel_fate::keep);
  std::string without_canary = without_rollout;
  const auto at = without_canary.find("      canary:");
  without_canary.erase(at, without_canary.find('\n', at) + 1 - at);
  EXPECT_EQ(fate_of(tunnel_on("canary"), *build({}, without_canary)), tunnel_fate::subset_removed);
  EXPECT_EQ(fate_of(tunnel_on("stable"), *build({}, without_canary)), tunnel_fate::keep);
}

TEST(TunnelFate, IdentityNamesTheDecidedSubset) {
  const auto snap = build({});
  // A user whose bucket is below 30% lands on the canary; the identity keeps names.
  routing::decision d;
  d.kind = routing::reason_kind::bucket_canary;
  d.service = 0;
  d.rollout = 0;
  d.subset = 2;
  const auto id = identity_of(d, *snap);
  EXPECT_EQ(id.service, "api");
  EXPECT_EQ(id.subset, "canary");
  EXPECT_EQ(id.rollout, "api-rollout");
  d.rollout = -1;
  EXPECT_EQ(identity_of(d, *snap).rollout, "");
}

TEST(TunnelRegistry, SweepClosesEachDoomedTunnelOnceAfterTheGrace) {
  tunnel_registry reg;
  fake_tunnel canary1, canary2, baseline, stable;
  const auto progressing = build({});
  EXPECT_EQ(reg.add(canary1, tunnel_on("canary"), *progressing, milliseconds(5000)),
            tunnel_fate::keep);
  reg.add(canary2, tunnel_on("canary"), *progressing, milliseconds(5000));
  reg.add(baseline, tunnel_on("baseline"), *progressing, milliseconds(5000));
  reg.add(stable, tunnel_on("stable"), *progressing, milliseconds(5000));
  EXPECT_EQ(reg.size(), 4u);
  EXPECT_TRUE(reg.sweep(*progressing, milliseconds(5000)).empty());
  EXPECT_TRUE(canary1.calls.empty());

  const auto back = build(rolled_back());
  const auto closings = reg.sweep(*back, milliseconds(1500));
  ASSERT_EQ(closings.size(), 1u);
  EXPECT_EQ(closings[0].what, "api-rollout");
  EXPECT_EQ(closings[0].why, tunnel_fate::rolled_back);
  EXPECT_EQ(closings[0].count, 3u);
  EXPECT_EQ(canary1.calls, std::vector<duration>{milliseconds(1500)});
  EXPECT_EQ(canary2.calls, std::vector<duration>{milliseconds(1500)});
  EXPECT_EQ(baseline.calls, std::vector<duration>{milliseconds(1500)});
  EXPECT_TRUE(stable.calls.empty());

  // A second publication of the same state tells no one twice.
  EXPECT_TRUE(reg.sweep(*back, milliseconds(0)).empty());
  EXPECT_EQ(canary1.calls.size(), 1u);

  reg.remove(canary1);
  reg.remove(canary2);
  reg.remove(baseline);
  EXPECT_EQ(reg.size(), 1u);
}

TEST(TunnelRegistry, TunnelDecidedBeforeARollbackItMissedClosesWhenAdded) {
  tunnel_registry reg;
  fake_tunnel late;
  const auto back = build(rolled_back());
  EXPECT_EQ(reg.add(late, tunnel_on("canary"), *back, milliseconds(0)), tunnel_fate::rolled_back);
  EXPECT_EQ(late.calls, std::vector<duration>{milliseconds(0)});
  // Already closing: a sweep does not count it again.
  EXPECT_TRUE(reg.sweep(*back, milliseconds(0)).empty());
}

}  // namespace
}  // namespace cohort::proxy
