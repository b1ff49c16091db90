#include "routing/cohort_plan.hpp"

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <xxhash.h>

#include "routing/compiled.hpp"
#include "routing/session_key.hpp"
#include "test_support.hpp"

namespace cohort::routing {
namespace {

using config::match_kind;
using config::pin_target;
using testing::field;

// The key as a decision sees it, for the plan.
class test_key final : public cohort_key {
 public:
  test_key(field_values& fields, const compiled_rollout& r) : fields_(fields), rollout_(r) {}
  std::optional<std::string_view> user_key() override {
    return extract_user_key(fields_, rollout_.key_sources, scratch_);
  }
  std::optional<std::uint64_t> key_hash() override {
    const auto k = user_key();
    if (!k) {
      return std::nullopt;
    }
    return XXH3_64bits_withSeed(k->data(), k->size(), rollout_.seed);
  }

 private:
  field_values& fields_;
  const compiled_rollout& rollout_;
  scratch_buffer scratch_;
};

// The key as the matchers see it without a plan, for the reference.
class direct_key final : public user_key_source {
 public:
  direct_key(const request_view& request, const compiled_rollout& r)
      : request_(request), rollout_(r) {}
  std::optional<std::string_view> user_key() override {
    return extract_user_key(request_, rollout_.key_sources, scratch_);
  }

 private:
  const request_view& request_;
  const compiled_rollout& rollout_;
  scratch_buffer scratch_;
};

// What decide() did before plans: the first cohort in order that has an
// effect and whose matcher holds.
std::int32_t reference_first_match(const compiled_rollout& r, const request_view& request) {
  direct_key key(request, r);
  for (std::size_t i = 0; i < r.cohorts.size(); ++i) {
    const compiled_cohort& c = r.cohorts[i];
    if (c.pin == pin_target::none && !c.joined) {
      continue;
    }
    if (c.match.matches(request, &key)) {
      return static_cast<std::int32_t>(i);
    }
  }
  return -1;
}

std::int32_t plan_first_match(const snapshot& snap, const request_view& request) {
  const compiled_rollout& r = *snap.rollouts().front();
  field_values fields(request, &snap.fields());
  test_key key(fields, r);
  return r.plan.first_match(fields, key);
}

const std::vector<std::string> user_pool = {"u0",  "u1",  "u2",  "u3",  "u4",  "u5",  "u6",
                                            "u7",  "u8",  "u9",  "u10", "u11", "u12", "u13",
                                            "u14", "u15", "u16", "u17", "u18", "u19"};

// One random condition of a cohort, of every kind and source a plan handles,
// and some (host, method, path) that it leaves to the matcher.
void add_condition(std::mt19937& rng, config::request_match& m) {
  const bool invert = rng() % 4 == 0;
  switch (rng() % 14) {
    case 0:
      m.headers.push_back(field("X-A", match_kind::present, {}, invert));
      break;
    case 1:
      m.headers.push_back(field("x-a", match_kind::absent, {}, invert));
      break;
    case 2:
      m.headers.push_back(field("X-A", match_kind::exact, rng() % 2 ? "abz" : "x", invert));
      break;
    case 3:
      m.headers.push_back(
          field("X-B", match_kind::prefix, rng() % 2 ? "ab" : "abcdefghij", invert));
      break;
    case 4:
      m.headers.push_back(field("X-B", match_kind::suffix, rng() % 2 ? "yz" : "z", invert));
      break;
    case 5:
      m.headers.push_back(field("X-A", match_kind::regex, rng() % 2 ? "a.*z" : "[0-9]+0", invert));
      break;
    case 6:
      m.headers.push_back(
          field("X-Version", match_kind::semver, rng() % 2 ? "<5.2.0" : ">=1.0 <6", invert));
      break;
    case 7:
      m.cookies.push_back(
          field("plan", rng() % 2 ? match_kind::exact : match_kind::present, "ent", invert));
      break;
    case 8:
      m.query.push_back(
          field("preview", rng() % 2 ? match_kind::exact : match_kind::absent, "1", invert));
      break;
    case 9:
      m.query.push_back(field("v", match_kind::semver, "<2", invert));
      break;
    case 10: {
      const std::size_t n = 1 + rng() % 12;  // over 8: the sorted table is searched
      for (std::size_t i = 0; i < n; ++i) {
        m.users.push_back(user_pool[rng() % user_pool.size()]);
      }
      break;
    }
    case 11:
      m.host = rng() % 2 ? "api.example.com" : "*.example.com";
      break;
    case 12:
      m.methods = {"POST"};
      break;
    case 13:
      m.path_prefix = "/p";
      break;
  }
}

testing::fake_request random_request(std::mt19937& rng) {
  const auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  const std::vector<std::string> a_values = {"x", "abz", "ab", "a1z", "120", "", "X", "a\nz"};
  const std::vector<std::string> b_values = {"abcdefghijk", "abyz", "ab", "z", "yz", ""};
  const std::vector<std::string> versions = {"5.1.9", "5.2.0", "v1.5", "6", "junk", "7.0.0-rc1"};
  const std::vector<std::string> cookies = {"plan=ent", "a=1; plan=\"ent\"", "plan=free", "plan",
                                            "x=1;plan =ent ;plan=free"};
  const std::vector<std::string> queries = {"", "preview=1", "preview", "v=1.5&preview=2", "v=3"};
  testing::fake_request r;
  r.method(rng() % 2 ? "GET" : "POST");
  r.path(rng() % 2 ? "/p/x" : "/q");
  r.host(rng() % 2 ? "API.example.com:8080" : "other.org");
  r.query(pick(queries));
  std::vector<std::pair<std::string, std::string>> headers;
  if (rng() % 4 != 0) {
    headers.emplace_back(rng() % 2 ? "X-A" : "x-a", pick(a_values));
  }
  if (rng() % 3 != 0) {
    headers.emplace_back("X-B", pick(b_values));
  }
  if (rng() % 3 != 0) {
    headers.emplace_back("X-Version", pick(versions));
  }
  if (rng() % 3 != 0) {
    headers.emplace_back("Cookie", pick(cookies));
  }
  if (rng() % 5 != 0) {
    headers.emplace_back("X-User-Id", pick(user_pool) + (rng() % 6 == 0 ? "x" : ""));
  }
  if (rng() % 4 == 0) {
    headers.emplace_back("X-A", pick(a_values));  // a repeat: the first one counts
  }
  std::shuffle(headers.begin(), headers.end(), rng);
  for (auto& [name, value] : headers) {
    r.header(name, value);
  }
  return r;
}

// The plan answers what evaluating every cohort's matcher in order answers,
// whatever the cohorts, pins, steps and request.
TEST(CohortPlan, AgreesWithTheMatchers) {
  std::mt19937 rng(11);
  int matched = 0;
  int unmatched = 0;
  for (int round = 0; round < 300; ++round) {
    auto c = testing::base_config();
    std::vector<std::string> joined;
    const std::size_t n = 1 + rng() % 8;
    for (std::size_t i = 0; i < n; ++i) {
      config::request_match m;
      const std::size_t conditions = rng() % 4;  // 0: a cohort that holds for everyone
      for (std::size_t k = 0; k < conditions; ++k) {
        add_condition(rng, m);
      }
      const pin_target pin = rng() % 3 == 0   ? pin_target::canary
                             : rng() % 3 == 0 ? pin_target::stable
                                              : pin_target::none;
      const std::string name = "c" + std::to_string(i);
      c.rollouts[0].cohorts.push_back(testing::cohort(name, m, pin));
      if (rng() % 2 == 0) {
        joined.push_back(name);
      }
    }
    const auto snap = testing::build_ok(
        c, testing::state_of("profile-api", 1000, rollout_state::mode::progressing, joined));
    ASSERT_TRUE(snap);
    for (int req = 0; req < 40; ++req) {
      const testing::fake_request r = random_request(rng);
      const request_view v = r.view();
      const std::int32_t expected = reference_first_match(*snap->rollouts().front(), v);
      ASSERT_EQ(plan_first_match(*snap, v), expected) << "round " << round << " request " << req;
      (expected >= 0 ? matched : unmatched) += 1;
    }
  }
  // Both outcomes were exercised, often.
  EXPECT_GT(matched, 1000);
  EXPECT_GT(unmatched, 1000);
}

TEST(CohortPlan, LeavesOutCohortsWithoutEffectAndFlattensFields) {
  auto c = testing::base_config();
  auto& ro = c.rollouts[0];
  config::request_match two;
  two.headers.push_back(field("X-A", match_kind::regex, "a.*"));
  two.headers.push_back(field("X-B", match_kind::exact, "b"));
  ro.cohorts.push_back(
      testing::cohort("inert", testing::header_match(field("X-A", match_kind::present))));
  ro.cohorts.push_back(testing::cohort("pinned", two, pin_target::canary));
  ro.cohorts.push_back(
      testing::cohort("joined", testing::header_match(field("X-C", match_kind::present))));
  config::request_match by_path;
  by_path.path_prefix = "/p";
  by_path.headers.push_back(field("X-D", match_kind::present));
  ro.cohorts.push_back(testing::cohort("by-path", by_path, pin_target::stable));
  const auto snap = testing::build_ok(
      c, testing::state_of("profile-api", 1000, rollout_state::mode::progressing, {"joined"}));
  ASSERT_TRUE(snap);
  const cohort_plan& plan = snap->rollouts().front()->plan;
  EXPECT_EQ(plan.cohort_count(), 3u);     // "inert" is left out
  EXPECT_EQ(plan.condition_count(), 4u);  // 2 + 1 + one whole match for "by-path"

  testing::fake_request r;
  r.header("X-A", "abc").header("X-B", "b");
  EXPECT_EQ(plan_first_match(*snap, r), 1);
  testing::fake_request only_a;
  only_a.header("X-A", "abc");
  EXPECT_EQ(plan_first_match(*snap, only_a), -1);  // "inert" would match, but changes nothing
  testing::fake_request d;
  d.path("/q").header("X-D", "1");
  EXPECT_EQ(plan_first_match(*snap, d), -1);  // the path prefix does not hold
  d.path("/p");
  EXPECT_EQ(plan_first_match(*snap, d), 3);
}

// Past the catalog's capacity a header has no slot: its cohort is left to the matcher.
TEST(CohortPlan, HeaderWithoutSlotIsMatchedDirectly) {
  auto c = testing::base_config();
  auto& ro = c.rollouts[0];
  for (std::size_t i = 0; i < max_header_slots; ++i) {
    ro.cohorts.push_back(testing::cohort(
        "c" + std::to_string(i),
        testing::header_match(field("X-H" + std::to_string(i), match_kind::exact, "yes"))));
  }
  ro.cohorts.push_back(
      testing::cohort("last", testing::header_match(field("X-Last", match_kind::exact, "yes")),
                      pin_target::canary));
  const auto snap = testing::build_ok(c);
  ASSERT_TRUE(snap);
  testing::fake_request r;
  r.header("X-Last", "yes");
  EXPECT_EQ(plan_first_match(*snap, r), static_cast<std::int32_t>(max_header_slots));
  const decision d = decide(r, *snap, 0);
  EXPECT_EQ(d.kind, reason_kind::pin);
  EXPECT_EQ(d.name, "last");
}

}  // namespace
}  // namespace cohort::routing
