#include "routing/explain.hpp"

#include <gtest/gtest.h>

#include "routing/compiled.hpp"
#include "test_support.hpp"

namespace cohort::routing {
namespace {

using testing::base_config;
using testing::build_ok;
using testing::fake_request;
using testing::state_of;

TEST(Explain, NamesEverything) {
  const auto s = build_ok(base_config(), state_of("profile-api", 10000));
  const explanation e = explain(fake_request{}.header("X-User-Id", "42"), *s);
  EXPECT_TRUE(e.routed);
  EXPECT_EQ(e.route, "profile");
  EXPECT_EQ(e.service, "profile-api");
  EXPECT_EQ(e.subset, "canary");
  EXPECT_EQ(e.rollout, "profile-api");
  const std::uint32_t b = bucket_of("42", s->rollouts()[0]->seed);
  EXPECT_EQ(e.reason, "bucket:" + std::to_string(b) + "<10000");
  EXPECT_EQ(e.reason_label, "bucket");
  ASSERT_TRUE(e.bucket);
  EXPECT_EQ(*e.bucket, b);
  EXPECT_TRUE(e.has_key);
  EXPECT_TRUE(e.new_anonymous_id.empty());
}

TEST(Explain, NoRouteAndNoRollout) {
  const auto s = build_ok(base_config(false));
  const explanation none = explain(fake_request{}.path("/x"), *s);
  EXPECT_FALSE(none.routed);
  EXPECT_EQ(none.subset, "");
  EXPECT_EQ(none.reason, "no_route");
  const explanation plain = explain(fake_request{}, *s);
  EXPECT_EQ(plain.subset, "stable");
  EXPECT_EQ(plain.rollout, "");
  EXPECT_EQ(plain.reason, "route:profile");
  EXPECT_FALSE(plain.bucket);
}

TEST(Explain, AnonymousCookieShowsTheIssuedId) {
  const auto s = build_ok(base_config(), state_of("profile-api", 0));
  const explanation e = explain(fake_request{}, *s, 0xabcdef);
  EXPECT_EQ(e.new_anonymous_id, "0000000000abcdef");
  EXPECT_EQ(e.subset, "stable");
}

TEST(Explain, NameHelpersToleratesBadIndices) {
  const auto s = build_ok(base_config());
  EXPECT_EQ(route_name(*s, 0), "profile");
  EXPECT_EQ(route_name(*s, -1), "");
  EXPECT_EQ(rollout_name(*s, 5), "");
  EXPECT_EQ(service_name(*s, 0), "profile-api");
  decision d;
  EXPECT_EQ(subset_name(*s, d), "");
}

}  // namespace
}  // namespace cohort::routing
