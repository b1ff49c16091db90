#include "routing/snapshot.hpp"

#include <gtest/gtest.h>

#include "routing/compiled.hpp"
#include "test_support.hpp"

namespace cohort::routing {
namespace {

using testing::base_config;
using testing::build_ok;
using testing::state_of;

TEST(Snapshot, CompilesServicesWithEndpointKeys) {
  const auto s = build_ok(base_config());
  ASSERT_TRUE(s);
  ASSERT_EQ(s->services().size(), 1u);
  const service& svc = s->services()[0];
  EXPECT_EQ(svc.name, "profile-api");
  ASSERT_EQ(svc.subsets.size(), 3u);
  EXPECT_EQ(svc.subsets[0].endpoints[1].key, "127.0.0.1:9002");
  EXPECT_EQ(svc.subsets[0].endpoints[1].address.port, 9002);
  EXPECT_EQ(svc.stable_subset, 0u);
  EXPECT_EQ(s->source().source_file, "test.yaml");
}

TEST(Snapshot, StableSubsetByNameOrByRollout) {
  auto named = base_config();
  std::swap(named.services[0].subsets[0], named.services[0].subsets[2]);
  EXPECT_EQ(build_ok(named)->services()[0].stable_subset, 2u);

  auto via_rollout = base_config();
  via_rollout.services[0].subsets[0].name = "v1";
  std::swap(via_rollout.services[0].subsets[0], via_rollout.services[0].subsets[1]);
  via_rollout.rollouts[0].stable = "v1";
  const auto s = build_ok(via_rollout);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->services()[0].stable_subset, 1u);
  EXPECT_EQ(s->rollouts()[0]->stable, 1u);

  auto neither = base_config(false);
  neither.services[0].subsets[0].name = "v1";
  std::swap(neither.services[0].subsets[0], neither.services[0].subsets[1]);
  EXPECT_EQ(build_ok(neither)->services()[0].stable_subset, 0u);
}

TEST(Snapshot, CompilesRolloutIndicesAndState) {
  auto c = base_config();
  c.rollouts[0].weight = 100;
  c.rollouts[0].cohorts.push_back(testing::cohort("beta", {}));
  c.rollouts[0].cohorts.push_back(testing::cohort("staff", {}));
  const auto from_file = build_ok(c);
  const compiled_rollout& r = *from_file->rollouts()[0];
  EXPECT_EQ(r.service, 0);
  EXPECT_EQ(r.stable, 0u);
  EXPECT_EQ(r.baseline, 1);
  EXPECT_EQ(r.canary, 2u);
  EXPECT_EQ(r.weight, 100u);
  EXPECT_FALSE(r.cohorts[0].joined);
  EXPECT_EQ(from_file->routes()[0]->rollout, 0);

  const auto from_state =
      build_ok(c, state_of("profile-api", 2500, rollout_state::mode::promoted, {"staff"}));
  const compiled_rollout& rs = *from_state->rollouts()[0];
  EXPECT_EQ(rs.weight, 2500u);
  EXPECT_EQ(rs.phase, rollout_state::mode::promoted);
  EXPECT_FALSE(rs.cohorts[0].joined);
  EXPECT_TRUE(rs.cohorts[1].joined);
  EXPECT_EQ(from_state->states().at("profile-api").weight, 2500u);
}

TEST(Snapshot, StateNamingAnUnknownCohortIsRejected) {
  auto c = base_config();
  c.rollouts[0].where = {"test.yaml", 40, 5};
  const auto r =
      snapshot::build(c, state_of("profile-api", 100, rollout_state::mode::progressing, {"gone"}));
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.err().size(), 1u);
  EXPECT_EQ(r.err()[0].where.line, 40);
  EXPECT_NE(r.err()[0].message.find("'gone'"), std::string::npos) << r.err()[0].message;
}

TEST(Snapshot, StateOfARolloutNoLongerConfiguredIsIgnored) {
  EXPECT_TRUE(snapshot::build(base_config(), state_of("removed", 100)).ok());
}

TEST(Snapshot, ReportsWhatValidationCouldNotCatch) {
  auto c = base_config();
  c.routes[0].match.path_regex = "(";
  c.rollouts[0].canary = "nope";
  c.rollouts[0].cohorts.push_back(testing::cohort(
      "bad", testing::header_match(testing::field("X", config::match_kind::regex, "[z-a]"))));
  const auto r = snapshot::build(c, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().size(), 3u);
}

TEST(Snapshot, RouteUsesTheFirstRolloutOfItsService) {
  auto c = base_config();
  auto second = c.rollouts[0];
  second.name = "second";
  c.rollouts.push_back(second);
  const auto s = build_ok(c);
  EXPECT_EQ(s->routes()[0]->rollout, 0);
}

TEST(Snapshot, WeightIsCappedAtFullShare) {
  const auto s = build_ok(base_config(), state_of("profile-api", 12000));
  EXPECT_EQ(s->rollouts()[0]->weight, full_share);
}

}  // namespace
}  // namespace cohort::routing
