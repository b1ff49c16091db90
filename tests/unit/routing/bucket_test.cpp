// The bucket function against vectors computed outside this code base, and the
// properties the product promises over a synthetic population.
#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_set>
#include <vector>

#include <gtest/gtest.h>

#include "routing/compiled.hpp"
#include "routing/decision.hpp"
#include "test_support.hpp"

namespace cohort::routing {
namespace {

using testing::base_config;
using testing::build_ok;
using testing::fake_request;
using testing::state_of;

// Computed by a separate C program against Debian's libxxhash 0.8.1:
//   seed = XXH3_64bits(name, strlen(name));
//   h = XXH3_64bits_withSeed(key, strlen(key), seed); printf("%llu", h % 10000);
// built with `gcc -O2 -o vec vec.c -lxxhash`.
struct vector_row {
  const char* seed_text;
  std::uint64_t seed;
  const char* key;
  std::uint64_t hash;
  std::uint32_t bucket;
};
constexpr vector_row vectors[] = {
    {"profile-api", 0xf2be88a92a152c84ULL, "user-1", 0x2662ae07b74d2c2aULL, 8058},
    {"profile-api", 0xf2be88a92a152c84ULL, "2048", 0x1d0268933731e51fULL, 9471},
    {"profile-api", 0xf2be88a92a152c84ULL, "alice@example.com", 0x5a221481fc548f90ULL, 3456},
    {"profile-api", 0xf2be88a92a152c84ULL, "", 0x9551a65574285265ULL, 6165},
    {"profile-api", 0xf2be88a92a152c84ULL, "0123456789abcdef", 0xcdec91f60e69da43ULL, 2211},
    {"checkout", 0xc9597d5de43833ccULL, "user-1", 0x9aa8e58f8574721eULL, 7502},
    {"checkout", 0xc9597d5de43833ccULL, "2048", 0x4a0fd9c3b90834a9ULL, 9945},
    {"checkout", 0xc9597d5de43833ccULL, "alice@example.com", 0xeaf35f471096547fULL, 655},
    {"salt-2024", 0xf37e6e1bcf1d1878ULL, "user-1", 0x59b6128a9d0a7f2fULL, 3343},
    {"salt-2024", 0xf37e6e1bcf1d1878ULL, "alice@example.com", 0x05d7ad49e3a5aad1ULL, 3777},
};

TEST(Bucket, MatchesIndependentVectors) {
  for (const vector_row& v : vectors) {
    EXPECT_EQ(bucket_of(v.key, v.seed), v.bucket) << v.seed_text << " / " << v.key;
  }
}

TEST(Bucket, SeedIsHashOfRolloutNameOrSalt) {
  auto c = base_config();
  auto salted = base_config();
  salted.rollouts[0].salt = "salt-2024";
  const auto snap = build_ok(c);
  const auto salted_snap = build_ok(salted);
  ASSERT_TRUE(snap && salted_snap);
  EXPECT_EQ(snap->rollouts()[0]->seed, 0xf2be88a92a152c84ULL);
  EXPECT_EQ(salted_snap->rollouts()[0]->seed, 0xf37e6e1bcf1d1878ULL);
}

TEST(Bucket, DecisionCarriesTheVectorHash) {
  const auto snap = build_ok(base_config(), state_of("profile-api", 5000));
  ASSERT_TRUE(snap);
  fake_request r;
  r.header("X-User-Id", "alice@example.com");
  const decision d = decide(r, *snap, 0);
  EXPECT_TRUE(d.has_key);
  EXPECT_EQ(d.key_hash, 0x5a221481fc548f90ULL);
  EXPECT_EQ(d.bucket, 3456u);
  EXPECT_EQ(d.kind, reason_kind::bucket_canary);
  EXPECT_EQ(d.reason(), "bucket:3456<5000");
}

constexpr int population = 100000;
// ±0.3 percentage points of 100,000 users.
constexpr double tolerance = 0.003;

std::vector<std::string> user_ids() {
  std::vector<std::string> ids;
  ids.reserve(population);
  for (int i = 0; i < population; ++i) {
    ids.push_back("user-" + std::to_string(i));
  }
  return ids;
}

// For every user: the subset name at the given weight.
std::vector<std::string> assign(const config::config& c, basis_points weight,
                                const std::vector<std::string>& ids) {
  const auto snap = build_ok(c, state_of(c.rollouts[0].name, weight));
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (const std::string& id : ids) {
    fake_request r;
    r.header("X-User-Id", id);
    out.push_back(testing::subset_of(*snap, decide(r, *snap, 0)));
  }
  return out;
}

double share(const std::vector<std::string>& subsets, std::string_view name) {
  std::size_t n = 0;
  for (const auto& s : subsets) {
    n += s == name ? 1 : 0;
  }
  return static_cast<double>(n) / static_cast<double>(subsets.size());
}

TEST(BucketProperties, CanaryShareAndBaselineShareMatchTheTarget) {
  const auto ids = user_ids();
  for (const basis_points w : {100u, 500u, 2500u, 5000u}) {
    const auto subsets = assign(base_config(), w, ids);
    const double target = w / 10000.0;
    std::printf("weight %u: canary %.4f baseline %.4f stable %.4f\n", w, share(subsets, "canary"),
                share(subsets, "baseline"), share(subsets, "stable"));
    EXPECT_NEAR(share(subsets, "canary"), target, tolerance) << "weight " << w;
    EXPECT_NEAR(share(subsets, "baseline"), share(subsets, "canary"), tolerance) << "weight " << w;
    EXPECT_NEAR(share(subsets, "stable"), 1.0 - 2 * target, 2 * tolerance) << "weight " << w;
  }
}

TEST(BucketProperties, WideningNeverMovesACanaryUserAway) {
  const auto ids = user_ids();
  const basis_points steps[] = {100, 500, 2500, 5000};
  std::vector<std::string> previous;
  for (const basis_points w : steps) {
    auto subsets = assign(base_config(), w, ids);
    for (std::size_t i = 0; i < previous.size(); ++i) {
      if (previous[i] == "canary") {
        ASSERT_EQ(subsets[i], "canary") << ids[i] << " left the canary at weight " << w;
      }
    }
    previous = std::move(subsets);
  }
}

TEST(BucketProperties, BaselineNeverTakesACanaryUser) {
  // A user who is on the canary at some weight is never on the baseline at a
  // later (wider) weight; and at one weight the two sets are disjoint by construction.
  const auto ids = user_ids();
  const auto narrow = assign(base_config(), 500, ids);
  const auto wide = assign(base_config(), 2500, ids);
  std::size_t canary_users = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (narrow[i] == "canary") {
      ++canary_users;
      ASSERT_NE(wide[i], "baseline") << ids[i];
    }
  }
  EXPECT_GT(canary_users, 0u);
}

TEST(BucketProperties, RolloutNamesPickDifferentUsers) {
  const auto ids = user_ids();
  auto other = base_config();
  other.rollouts[0].name = "checkout";
  const auto a = assign(base_config(), 500, ids);
  const auto b = assign(other, 500, ids);
  std::size_t in_a = 0;
  std::size_t in_both = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    in_a += a[i] == "canary" ? 1 : 0;
    in_both += (a[i] == "canary" && b[i] == "canary") ? 1 : 0;
  }
  // Independent 5% draws overlap on about 5% of a's canary users; the same
  // seed would overlap on all of them.
  ASSERT_GT(in_a, 0u);
  EXPECT_LT(static_cast<double>(in_both) / static_cast<double>(in_a), 0.10);
}

TEST(BucketProperties, BaselineCapsAtTheWholePopulation) {
  const auto ids = user_ids();
  const auto subsets = assign(base_config(), 7000, ids);
  EXPECT_NEAR(share(subsets, "canary"), 0.70, tolerance);
  EXPECT_NEAR(share(subsets, "baseline"), 0.30, tolerance);
  EXPECT_EQ(share(subsets, "stable"), 0.0);
}

TEST(BucketProperties, WithoutBaselineTheRestIsStable) {
  const auto ids = user_ids();
  const auto subsets = assign(base_config(true, false), 2500, ids);
  EXPECT_NEAR(share(subsets, "canary"), 0.25, tolerance);
  EXPECT_EQ(share(subsets, "baseline"), 0.0);
  EXPECT_NEAR(share(subsets, "stable"), 0.75, tolerance);
}

}  // namespace
}  // namespace cohort::routing
