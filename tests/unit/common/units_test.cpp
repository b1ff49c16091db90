#include "common/units.hpp"

#include <gtest/gtest.h>

namespace cohort {
namespace {

TEST(Units, ParsesDurations) {
  EXPECT_EQ(parse_duration("250ms"), duration{250});
  EXPECT_EQ(parse_duration("15s"), duration{15000});
  EXPECT_EQ(parse_duration("5m"), duration{300000});
  EXPECT_EQ(parse_duration("1h"), duration{3600000});
  EXPECT_FALSE(parse_duration("15"));
  EXPECT_FALSE(parse_duration("s"));
  EXPECT_FALSE(parse_duration("1.5s"));
  EXPECT_FALSE(parse_duration("-1s"));
  EXPECT_FALSE(parse_duration("10 s"));
  EXPECT_EQ(format_duration(duration{1500}), "1500ms");
  EXPECT_EQ(format_duration(duration{300000}), "5m");
}

TEST(Units, ParsesShares) {
  EXPECT_EQ(parse_share("5%"), 500u);
  EXPECT_EQ(parse_share("0.25%"), 25u);
  EXPECT_EQ(parse_share("0.5%"), 50u);
  EXPECT_EQ(parse_share("100%"), 10000u);
  EXPECT_EQ(parse_share("120%"), 12000u);
  EXPECT_FALSE(parse_share("5"));
  EXPECT_FALSE(parse_share("0.001%"));
  EXPECT_FALSE(parse_share("%"));
  EXPECT_FALSE(parse_share("-1%"));
  EXPECT_EQ(format_share(25), "0.25%");
  EXPECT_EQ(format_share(50), "0.5%");
  EXPECT_EQ(format_share(500), "5%");
}

TEST(Units, ParsesHostPort) {
  auto hp = parse_host_port("127.0.0.1:8080");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 8080);
  hp = parse_host_port("[::1]:0");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(format_host_port(*hp), "[::1]:0");
  EXPECT_FALSE(parse_host_port("127.0.0.1"));
  EXPECT_FALSE(parse_host_port("::1:80"));
  EXPECT_FALSE(parse_host_port("host:70000"));
  EXPECT_FALSE(parse_host_port(":80"));
}

}  // namespace
}  // namespace cohort
