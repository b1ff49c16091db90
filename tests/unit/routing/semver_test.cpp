#include "routing/semver.hpp"

#include <charconv>
#include <random>
#include <string>

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

// The obvious parser (split on dots, from_chars each part), which the one-pass
// parser replaced for speed: they must agree on everything.
std::optional<semver> reference_parse(std::string_view text) {
  const auto space = [](char c) { return c == ' ' || c == '\t'; };
  while (!text.empty() && space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && space(text.back())) {
    text.remove_suffix(1);
  }
  if (!text.empty() && (text.front() == 'v' || text.front() == 'V')) {
    text.remove_prefix(1);
  }
  text = text.substr(0, text.find_first_of("-+"));
  semver v;
  std::uint32_t* parts[] = {&v.major, &v.minor, &v.patch};
  for (std::size_t index = 0;; ++index) {
    const std::size_t dot = text.find('.');
    const std::string_view part = text.substr(0, dot);
    if (index == 3 || part.empty() || part.size() > 9) {
      return std::nullopt;
    }
    const auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), *parts[index]);
    if (ec != std::errc{} || p != part.data() + part.size()) {
      return std::nullopt;
    }
    if (dot == std::string_view::npos) {
      return v;
    }
    text.remove_prefix(dot + 1);
  }
}

TEST(Semver, OnePassParserAgreesWithReference) {
  const std::string alphabet = "0123456789..vV -+\tx";
  std::mt19937 rng(11);
  int parsed = 0;
  for (int i = 0; i < 100000; ++i) {
    std::string t(rng() % 14, ' ');
    for (char& c : t) {
      c = alphabet[rng() % alphabet.size()];
    }
    const auto want = reference_parse(t);
    EXPECT_EQ(parse_semver(t), want) << "'" << t << "'";
    parsed += want ? 1 : 0;
  }
  for (const char* t : {"999999999.1", "1234567890", "1.2.3.", "v", "5.2.0-rc.1", " v1.2 "}) {
    EXPECT_EQ(parse_semver(t), reference_parse(t)) << t;
  }
  EXPECT_GT(parsed, 1000);  // the random texts do reach the accepting paths
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
