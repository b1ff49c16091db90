#include "config/semver_range.hpp"

#include <gtest/gtest.h>

namespace cohort::config {
namespace {

semver v(std::string_view text) {
  const auto parsed = parse_semver(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(semver{});
}

bool in(std::string_view version, std::string_view range) {
  const auto r = parse_semver_range(range);
  EXPECT_TRUE(r.ok()) << range;
  return r.ok() && satisfies(v(version), *r);
}

TEST(Semver, ParsesOneToThreeParts) {
  EXPECT_EQ(v("5").parts, (std::array<std::uint32_t, 3>{5, 0, 0}));
  EXPECT_EQ(v("5.2").parts, (std::array<std::uint32_t, 3>{5, 2, 0}));
  EXPECT_EQ(v("5.2.13").parts, (std::array<std::uint32_t, 3>{5, 2, 13}));
  for (const char* bad : {"", "5.", ".5", "5..2", "1.2.3.4", "v1.2", "1.2.x", "1.2.3-beta", "-1"}) {
    EXPECT_FALSE(parse_semver(bad).has_value()) << bad;
  }
}

TEST(Semver, RangesFromTheBrief) {
  EXPECT_TRUE(in("5.1.9", "<5.2.0"));
  EXPECT_FALSE(in("5.2.0", "<5.2.0"));
  EXPECT_TRUE(in("5.2.0", ">=5.2.0 <6"));
  EXPECT_TRUE(in("5.99", ">=5.2.0 <6"));
  EXPECT_FALSE(in("6.0.0", ">=5.2.0 <6"));
  EXPECT_FALSE(in("5.1", ">=5.2.0 <6"));
  EXPECT_TRUE(in("1.2.3", "=1.2.3"));
  EXPECT_FALSE(in("1.2.4", "=1.2.3"));
  EXPECT_TRUE(in("1.0.1", ">1"));
  EXPECT_FALSE(in("1.0.0", ">1"));
  EXPECT_TRUE(in("2.0.0", "<=2.0"));
  EXPECT_FALSE(in("2.0.1", "<=2.0"));
  EXPECT_TRUE(in("3", "  >=2   <4 "));  // extra spaces are fine
}

TEST(Semver, BadRangesSayWhatIsWrong) {
  EXPECT_EQ(parse_semver_range("<5.2.x").err().message,
            "'5.2.x' is not a version (1 to 3 numbers, like 5.2.0)");
  EXPECT_EQ(parse_semver_range("5.2.0").err().message,
            "'5.2.0' does not start with <, <=, >, >= or =");
  EXPECT_EQ(parse_semver_range(">=5 ~6").err().message,
            "'~6' does not start with <, <=, >, >= or =");
  EXPECT_EQ(parse_semver_range("<").err().message,
            "'' is not a version (1 to 3 numbers, like 5.2.0)");
  EXPECT_EQ(parse_semver_range("  ").err().message, "is empty");
}

}  // namespace
}  // namespace cohort::config
