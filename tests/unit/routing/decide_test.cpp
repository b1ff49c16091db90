#include "routing/decision.hpp"

#include <gtest/gtest.h>
#include <xxhash.h>

#include "routing/compiled.hpp"
#include "test_support.hpp"

namespace cohort::routing {
namespace {

using config::key_source_kind;
using config::match_kind;
using config::pin_target;
using mode = rollout_state::mode;
using testing::base_config;
using testing::bearer;
using testing::build_ok;
using testing::cohort;
using testing::fake_request;
using testing::field;
using testing::header_match;
using testing::key_from;
using testing::state_of;
using testing::subset_of;

// The example configuration's cohorts.
config::config with_cohorts() {
  auto c = base_config();
  auto& ro = c.rollouts[0];
  ro.session.key.push_back(key_from(key_source_kind::cookie, "session"));
  ro.session.key.push_back(key_from(key_source_kind::jwt_claim, "sub"));
  ro.cohorts.push_back(cohort("internal",
                              header_match(field("X-User-Cohort", match_kind::exact, "internal")),
                              pin_target::canary));
  ro.cohorts.push_back(cohort("legacy-mobile",
                              header_match(field("X-App-Version", match_kind::semver, "<5.2.0")),
                              pin_target::stable));
  config::request_match beta;
  beta.users = {"2048", "4096", "8192"};
  ro.cohorts.push_back(cohort("beta", beta));
  ro.cohorts.push_back(
      cohort("ids-ending-0", header_match(field("X-User-Id", match_kind::regex, ".*0$"))));
  return c;
}

// A user id whose bucket in rollout "profile-api" is at least `min_bucket`.
std::string user_with_bucket_at_least(std::uint32_t min_bucket, std::uint64_t seed) {
  for (int i = 0;; ++i) {
    std::string id = "u" + std::to_string(i);
    if (id.back() != '0' && bucket_of(id, seed) >= min_bucket) {
      return id;
    }
  }
}

class Decide : public ::testing::Test {
 protected:
  std::shared_ptr<const snapshot> snap(basis_points weight, mode phase = mode::progressing,
                                       std::vector<std::string> joined = {}) {
    return build_ok(with_cohorts(), state_of("profile-api", weight, phase, std::move(joined)));
  }
  static std::uint64_t seed(const snapshot& s) { return s.rollouts()[0]->seed; }
};

TEST_F(Decide, NoRoute) {
  const auto s = snap(500);
  const decision d = decide(fake_request{}.path("/other"), *s, 0);
  EXPECT_EQ(d.kind, reason_kind::no_route);
  EXPECT_EQ(d.route, -1);
  EXPECT_EQ(d.reason(), "no_route");
  EXPECT_EQ(reason_label(d.kind), "no_route");
}

TEST_F(Decide, RouteWithoutRolloutGoesToStable) {
  auto c = base_config(false);
  // The stable subset is not first: the index must follow the name.
  std::swap(c.services[0].subsets[0], c.services[0].subsets[2]);
  const auto s = build_ok(c);
  ASSERT_TRUE(s);
  const decision d = decide(fake_request{}.header("X-User-Id", "1"), *s, 0);
  EXPECT_EQ(d.kind, reason_kind::route);
  EXPECT_EQ(d.rollout, -1);
  EXPECT_EQ(subset_of(*s, d), "stable");
  EXPECT_EQ(d.reason(), "route:profile");
  EXPECT_EQ(reason_label(d.kind), "route");
}

TEST_F(Decide, FirstMatchingRouteWins) {
  auto c = base_config(false);
  config::route_config specific;
  specific.name = "profile-admin";
  specific.match.path_prefix = "/profile/admin";
  specific.service = "profile-api";
  c.routes.insert(c.routes.begin(), specific);
  const auto s = build_ok(c);
  EXPECT_EQ(decide(fake_request{}.path("/profile/admin/x"), *s, 0).reason(), "route:profile-admin");
  EXPECT_EQ(decide(fake_request{}.path("/profile/1"), *s, 0).reason(), "route:profile");
}

TEST_F(Decide, PinCanary) {
  const auto s = snap(0);
  fake_request r;
  r.header("X-User-Cohort", "internal").header("X-User-Id", "7");
  const decision d = decide(r, *s, 0);
  EXPECT_EQ(d.kind, reason_kind::pin);
  EXPECT_EQ(subset_of(*s, d), "canary");
  EXPECT_EQ(d.reason(), "pin:internal");
  EXPECT_EQ(reason_label(d.kind), "pin");
  EXPECT_TRUE(d.has_key);  // logged by hash even when a cohort decides
  EXPECT_EQ(d.bucket, bucket_of("7", seed(*s)));
}

TEST_F(Decide, PinStableHoldsEvenWhenPromoted) {
  for (const mode m : {mode::progressing, mode::promoted}) {
    const auto s = snap(10000, m);
    fake_request r;
    r.header("X-App-Version", "5.1.9").header("X-User-Id", "7");
    const decision d = decide(r, *s, 0);
    EXPECT_EQ(subset_of(*s, d), "stable");
    EXPECT_EQ(d.reason(), "pin:legacy-mobile");
  }
  // A newer app is not pinned.
  const auto s = snap(10000);
  fake_request newer;
  newer.header("X-App-Version", "5.2.0").header("X-User-Id", "7");
  EXPECT_EQ(subset_of(*s, decide(newer, *s, 0)), "canary");
}

TEST_F(Decide, FirstMatchingCohortWins) {
  const auto s = snap(0);
  fake_request r;
  r.header("X-User-Cohort", "internal").header("X-App-Version", "4.0");
  EXPECT_EQ(decide(r, *s, 0).reason(), "pin:internal");
}

TEST_F(Decide, JoinedCohortIsSplitBetweenCanaryAndBaseline) {
  // With a baseline, a joined cohort's lower half of buckets is on the canary
  // and its upper half is the control the step is judged against.
  const auto s = snap(0, mode::progressing, {"beta"});
  // The beta list's three users all hash to the upper half under this seed.
  for (const char* user : {"2048", "4096", "8192"}) {
    const decision control = decide(fake_request{}.header("X-User-Id", user), *s, 0);
    ASSERT_EQ(control.bucket, bucket_of(user, seed(*s)));
    ASSERT_GE(control.bucket, full_share / 2) << user;
    EXPECT_EQ(control.kind, reason_kind::baseline);
    EXPECT_EQ(subset_of(*s, control), "baseline");
    EXPECT_EQ(control.reason(), "baseline:" + std::to_string(control.bucket));
  }
  // A cohort matched by a header: users in the lower half are its canary side.
  const auto joined = snap(0, mode::progressing, {"ids-ending-0"});
  int canary = 0;
  int baseline = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string user = std::to_string(i * 10);
    const decision d = decide(fake_request{}.header("X-User-Id", user), *joined, 0);
    if (d.bucket < full_share / 2) {
      ++canary;
      EXPECT_EQ(d.kind, reason_kind::cohort);
      EXPECT_EQ(subset_of(*joined, d), "canary");
      EXPECT_EQ(d.reason(), "cohort:ids-ending-0");
      EXPECT_EQ(reason_label(d.kind), "cohort");
    } else {
      ++baseline;
      EXPECT_EQ(subset_of(*joined, d), "baseline");
    }
  }
  EXPECT_GT(canary, 60);
  EXPECT_GT(baseline, 60);
  // Not joined: the same user is bucketed like everyone else (weight 0: stable).
  const auto before = snap(0, mode::progressing, {});
  EXPECT_EQ(subset_of(*before, decide(fake_request{}.header("X-User-Id", "4096"), *before, 0)),
            "stable");
}

TEST_F(Decide, CohortNotJoinedFallsThroughToLaterCohortsAndBuckets) {
  // "2040" is in no user list but ends in 0; with only ids-ending-0 joined it is
  // a canary user, and a beta user is bucketed since beta has not joined.
  const auto s = snap(0, mode::progressing, {"ids-ending-0"});
  EXPECT_EQ(decide(fake_request{}.header("X-User-Id", "2040"), *s, 0).reason(),
            "cohort:ids-ending-0");
  const decision beta_user = decide(fake_request{}.header("X-User-Id", "4096"), *s, 0);
  EXPECT_EQ(beta_user.kind, reason_kind::bucket_stable);
  EXPECT_EQ(subset_of(*s, beta_user), "stable");
  EXPECT_EQ(beta_user.reason(), "bucket:" + std::to_string(bucket_of("4096", seed(*s))) + ">=0");
}

TEST_F(Decide, BucketReasons) {
  const auto s = snap(2500);
  const std::uint64_t sd = seed(*s);
  const std::string stable_user = user_with_bucket_at_least(5000, sd);
  const decision st = decide(fake_request{}.header("X-User-Id", stable_user), *s, 0);
  EXPECT_EQ(subset_of(*s, st), "stable");
  EXPECT_EQ(st.reason(), "bucket:" + std::to_string(bucket_of(stable_user, sd)) + ">=2500");
  EXPECT_EQ(reason_label(st.kind), "bucket");

  for (int i = 1;; ++i) {
    const std::string id = "c" + std::to_string(i);
    const std::uint32_t b = bucket_of(id, sd);
    if (b < 2500) {
      const decision d = decide(fake_request{}.header("X-User-Id", id), *s, 0);
      EXPECT_EQ(subset_of(*s, d), "canary");
      EXPECT_EQ(d.kind, reason_kind::bucket_canary);
      EXPECT_EQ(d.reason(), "bucket:" + std::to_string(b) + "<2500");
      EXPECT_EQ(reason_label(d.kind), "bucket");
      break;
    }
  }
  for (int i = 1;; ++i) {
    const std::string id = "b" + std::to_string(i);
    const std::uint32_t b = bucket_of(id, sd);
    if (b >= 2500 && b < 5000) {
      const decision d = decide(fake_request{}.header("X-User-Id", id), *s, 0);
      EXPECT_EQ(subset_of(*s, d), "baseline");
      EXPECT_EQ(d.kind, reason_kind::baseline);
      EXPECT_EQ(d.reason(), "baseline:" + std::to_string(b));
      EXPECT_EQ(reason_label(d.kind), "bucket");
      break;
    }
  }
}

TEST_F(Decide, RolledBackSendsEveryoneToStable) {
  const auto s = snap(5000, mode::rolled_back, {"beta"});
  for (const char* cohort_header : {"internal", ""}) {
    fake_request r;
    r.header("X-User-Cohort", cohort_header).header("X-User-Id", "4096");
    const decision d = decide(r, *s, 0);
    EXPECT_EQ(d.kind, reason_kind::rolled_back);
    EXPECT_EQ(subset_of(*s, d), "stable");
    EXPECT_EQ(d.reason(), "rollback:profile-api");
    EXPECT_EQ(reason_label(d.kind), "rollback");
  }
  EXPECT_EQ(decide(fake_request{}, *s, 3).reason(), "rollback:profile-api");
}

TEST_F(Decide, PromotedSendsEveryoneNotPinnedToCanary) {
  const auto s = snap(0, mode::promoted);
  const decision d = decide(fake_request{}.header("X-User-Id", "12345"), *s, 0);
  EXPECT_EQ(d.kind, reason_kind::promoted);
  EXPECT_EQ(subset_of(*s, d), "canary");
  EXPECT_EQ(d.reason(), "promoted:profile-api");
  EXPECT_EQ(reason_label(d.kind), "promoted");
  const decision anon = decide(fake_request{}, *s, 0);
  EXPECT_EQ(subset_of(*s, anon), "canary");
  EXPECT_EQ(anon.new_anonymous_id_len, 0);
}

TEST_F(Decide, StateAbsentUsesTheFileWeight) {
  auto c = with_cohorts();
  c.rollouts[0].weight = 10000;
  const auto s = build_ok(c);
  const decision d = decide(fake_request{}.header("X-User-Id", "7"), *s, 0);
  EXPECT_EQ(subset_of(*s, d), "canary");
  EXPECT_EQ(d.weight, 10000u);
}

// ------------------------------------------------------------- key sources

TEST_F(Decide, KeyFromCookieAmongSeveral) {
  const auto s = snap(5000);
  fake_request r;
  r.header("Cookie", "theme=dark; session=sess-77; lang=en");
  const decision d = decide(r, *s, 0);
  EXPECT_TRUE(d.has_key);
  EXPECT_EQ(d.bucket, bucket_of("sess-77", seed(*s)));
}

TEST_F(Decide, KeyFromJwtSub) {
  const auto s = snap(5000);
  fake_request r;
  r.header("Authorization", bearer(R"({"iss":"idp","sub":"user-9000","exp":1700000000})"));
  const decision d = decide(r, *s, 0);
  EXPECT_TRUE(d.has_key);
  EXPECT_EQ(d.bucket, bucket_of("user-9000", seed(*s)));
}

TEST_F(Decide, HeaderSourceComesBeforeLaterSources) {
  const auto s = snap(5000);
  fake_request r;
  r.header("Cookie", "session=sess-77").header("X-User-Id", "42");
  EXPECT_EQ(decide(r, *s, 0).key_hash, XXH3_64bits_withSeed("42", 2, seed(*s)));
}

TEST_F(Decide, EmptyHeaderIsNoKey) {
  const auto s = snap(5000);
  fake_request r;
  r.header("X-User-Id", "").header("Cookie", "session=s1");
  EXPECT_EQ(decide(r, *s, 0).bucket, bucket_of("s1", seed(*s)));
}

TEST_F(Decide, KeyFromQueryAndClientIp) {
  auto c = base_config();
  c.rollouts[0].session.key = {key_from(key_source_kind::query, "uid"),
                               key_from(key_source_kind::client_ip)};
  const auto s = build_ok(c, state_of("profile-api", 5000));
  const decision by_query =
      decide(fake_request{}.query("a=1&uid=q-5").client_ip("10.1.2.3"), *s, 0);
  EXPECT_TRUE(by_query.has_key);
  EXPECT_EQ(by_query.bucket, bucket_of("q-5", seed(*s)));
  const decision by_ip = decide(fake_request{}.client_ip("10.1.2.3"), *s, 0);
  EXPECT_TRUE(by_ip.has_key);
  EXPECT_EQ(by_ip.bucket, bucket_of("10.1.2.3", seed(*s)));
}

TEST_F(Decide, UsersCohortWithJwtKey) {
  const auto s = snap(0, mode::progressing, {"beta"});
  fake_request r;
  r.header("Authorization", bearer(R"({"sub":"8192"})"));
  // Beta's control half (see JoinedCohortIsSplitBetweenCanaryAndBaseline), by the JWT's sub.
  EXPECT_EQ(decide(r, *s, 0).reason(), "baseline:" + std::to_string(bucket_of("8192", seed(*s))));
}

// ------------------------------------------------------------- anonymous

TEST_F(Decide, AnonymousStable) {
  auto c = base_config();
  c.rollouts[0].session.anonymous = config::anonymous_policy::stable;
  const auto s = build_ok(c, state_of("profile-api", 10000));
  const decision d = decide(fake_request{}, *s, 12345);
  EXPECT_EQ(subset_of(*s, d), "stable");
  EXPECT_EQ(d.reason(), "anonymous:stable");
  EXPECT_EQ(reason_label(d.kind), "anonymous");
  EXPECT_FALSE(d.has_key);
}

TEST_F(Decide, AnonymousRandomUsesTheDrawWithTheBucketRule) {
  auto c = base_config();
  c.rollouts[0].session.anonymous = config::anonymous_policy::random;
  const auto s = build_ok(c, state_of("profile-api", 1000));
  const struct {
    std::uint64_t random;
    const char* subset;
  } rows[] = {{999, "canary"},    {20999, "canary"}, {1000, "baseline"},
              {1999, "baseline"}, {2000, "stable"},  {9999, "stable"}};
  for (const auto& row : rows) {
    const decision d = decide(fake_request{}, *s, row.random);
    EXPECT_EQ(subset_of(*s, d), row.subset) << row.random;
    EXPECT_EQ(d.reason(), "anonymous:random");
    EXPECT_EQ(d.bucket, row.random % 10000);
    EXPECT_FALSE(d.has_key);
  }
}

TEST_F(Decide, AnonymousCookieIssuesAnIdThatLandsTheSameNextTime) {
  const auto s = snap(5000);
  for (std::uint64_t random : {0x0123456789abcdefULL, 0xfedcba9876543210ULL, 42ULL, 7ULL,
                               0xdeadbeefcafef00dULL, 1ULL << 63, 99999ULL, 31337ULL}) {
    const decision first = decide(fake_request{}, *s, random);
    ASSERT_EQ(first.new_anonymous_id_len, 16);
    const std::string id(first.new_anonymous_id_view());
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    EXPECT_TRUE(first.has_key);
    EXPECT_EQ(first.bucket, bucket_of(id, seed(*s)));

    fake_request next;
    next.header("Cookie", "other=1; cohort_uid=" + id);
    const decision second = decide(next, *s, random ^ 0xffff);
    EXPECT_EQ(second.new_anonymous_id_len, 0);
    EXPECT_EQ(second.subset, first.subset) << id;
    EXPECT_EQ(second.reason(), first.reason());
  }
  EXPECT_EQ(s->rollouts()[0]->cookie_name, "cohort_uid");
  EXPECT_EQ(decide(fake_request{}, *s, 0x0123456789abcdefULL).new_anonymous_id_view(),
            "0123456789abcdef");
}

// ------------------------------------------------------------- reasons

TEST(Reason, FormatsWithoutAllocatingAndTruncates) {
  decision d;
  d.kind = reason_kind::bucket_canary;
  d.bucket = 417;
  d.weight = 500;
  char buf[32];
  EXPECT_EQ(std::string_view(buf, d.format_reason(buf, sizeof buf)), "bucket:417<500");
  d.kind = reason_kind::bucket_stable;
  EXPECT_EQ(std::string_view(buf, d.format_reason(buf, sizeof buf)), "bucket:417>=500");
  d.kind = reason_kind::baseline;
  EXPECT_EQ(std::string_view(buf, d.format_reason(buf, sizeof buf)), "baseline:417");
  d.kind = reason_kind::cohort;
  d.name = "internal";
  EXPECT_EQ(std::string_view(buf, d.format_reason(buf, 5)), "cohor");
  EXPECT_EQ(d.format_reason(buf, 0), 0u);
  d.name = std::string_view("a-very-long-cohort-name-that-goes-beyond-sixty-four-characters-x");
  EXPECT_EQ(d.reason(), "cohort:" + std::string(d.name));
}

TEST(Reason, Labels) {
  EXPECT_EQ(reason_label(reason_kind::cohort), "cohort");
  EXPECT_EQ(reason_label(reason_kind::pin), "pin");
  EXPECT_EQ(reason_label(reason_kind::bucket_canary), "bucket");
  EXPECT_EQ(reason_label(reason_kind::bucket_stable), "bucket");
  EXPECT_EQ(reason_label(reason_kind::baseline), "bucket");
  EXPECT_EQ(reason_label(reason_kind::anonymous), "anonymous");
  EXPECT_EQ(reason_label(reason_kind::route), "route");
  EXPECT_EQ(reason_label(reason_kind::rolled_back), "rollback");
  EXPECT_EQ(reason_label(reason_kind::promoted), "promoted");
  EXPECT_EQ(reason_label(reason_kind::no_route), "no_route");
}

TEST(DecisionFailover, ReasonKeepsTheAssignmentAndNamesTheFailover) {
  decision d;
  d.kind = reason_kind::bucket_canary;
  d.bucket = 417;
  d.weight = 5000;
  d.subset = 1;
  EXPECT_EQ(d.assigned_subset(), 1u);
  d.fail_over(0, "canary", "stable");
  EXPECT_EQ(d.subset, 0u);
  EXPECT_EQ(d.assigned_subset(), 1u);
  EXPECT_EQ(d.reason(), "bucket:417<5000,failover:canary->stable");
  // A second failover (a retry after a first one) keeps the first origin.
  d.fail_over(2, "stable", "other");
  EXPECT_EQ(d.assigned_subset(), 1u);
  EXPECT_EQ(d.reason(), "bucket:417<5000,failover:canary->other");
  // The bounded writer truncates instead of overflowing.
  char small[12];
  EXPECT_EQ(d.format_reason(small, sizeof small), sizeof small);
}

}  // namespace
}  // namespace cohort::routing
