#include "routing/semver.hpp"

#include <gtest/gtest.h>

namespace cohort::routing {
namespace {

bool in_range(std::string_view version, std::string_view range) {
  const auto r = parse_semver_range(range);
  EXPECT_TRUE(r.has_value()) << range;
  const auto v = parse_semver(version);
  return r && v && satisfies(*v, *r);
}

TEST(Semver, ParsesLeniently) {
  EXPECT_EQ(parse_semver("5.2.1"), (semver{5, 2, 1}));
  EXPECT_EQ(parse_semver("v5.2"), (semver{5, 2, 0}));
  EXPECT_EQ(parse_semver("V6"), (semver{6, 0, 0}));
  EXPECT_EQ(parse_semver("5.2.0-beta.1"), (semver{5, 2, 0}));
  EXPECT_EQ(parse_semver("5.2.0+build.7"), (semver{5, 2, 0}));
  EXPECT_EQ(parse_semver(" 5.2.0 "), (semver{5, 2, 0}));
  EXPECT_FALSE(parse_semver(""));
  EXPECT_FALSE(parse_semver("garbage"));
  EXPECT_FALSE(parse_semver("5."));
  EXPECT_FALSE(parse_semver("5..1"));
  EXPECT_FALSE(parse_semver("5.1.9.3"));
  EXPECT_FALSE(parse_semver("5.x"));
  EXPECT_FALSE(parse_semver("-5.1"));
  EXPECT_FALSE(parse_semver("99999999999.0"));
}

TEST(Semver, ParsesRanges) {
  EXPECT_TRUE(parse_semver_range("<5.2.0"));
  EXPECT_TRUE(parse_semver_range(">=5.2.0 <6"));
  EXPECT_TRUE(parse_semver_range(">= 5.2.0"));
  EXPECT_TRUE(parse_semver_range("5.1"));
  EXPECT_FALSE(parse_semver_range(""));
  EXPECT_FALSE(parse_semver_range("   "));
  EXPECT_FALSE(parse_semver_range(">="));
  EXPECT_FALSE(parse_semver_range("<abc"));
  EXPECT_FALSE(parse_semver_range("<5.2.0 >"));
}

TEST(Semver, RangeTable) {
  struct row {
    const char* version;
    const char* range;
    bool expected;
  };
  const row rows[] = {
      {"5.1.9", "<5.2.0", true},
      {"5.2.0", "<5.2.0", false},
      {"5.2.1", "<5.2.0", false},
      {"4", "<5.2.0", true},
      {"v5.1", "<5.2.0", true},
      {"5.2.0-beta", "<5.2.0", false},  // the pre-release is ignored, not ordered
      {"5.9.1", ">=5.2.0 <6", true},
      {"5.2.0", ">=5.2.0 <6", true},
      {"6.0.0", ">=5.2.0 <6", false},
      {"5.1.99", ">=5.2.0 <6", false},
      {"5.2.0", "<=5.2", true},
      {"5.2.1", "<=5.2", false},
      {"5.2.1", ">5.2", true},
      {"5.2.0", ">5.2", false},
      {"5.2.0", "5.2", true},
      {"5.2.0", "=5.2.0", true},
      {"5.2.1", "=5.2.0", false},
  };
  for (const row& r : rows) {
    EXPECT_EQ(in_range(r.version, r.range), r.expected) << r.version << " vs " << r.range;
  }
}

}  // namespace
}  // namespace cohort::routing
