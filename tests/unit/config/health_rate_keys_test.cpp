// health_check (per service) and rate_limit (per subset): defaults, values,
// and errors with their place.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader.hpp"
#include "config_errors.hpp"

namespace cohort::config {
namespace {

using std::chrono::milliseconds;

const std::string head = R"(gateway:
  listeners: [{name: p, address: 127.0.0.1:0}]
services:
  - name: api
)";
const std::string subsets = R"(    subsets:
      stable: { endpoints: [127.0.0.1:9001] }
)";

TEST(HealthCheckKeys, AbsentMeansNoChecks) {
  const auto loaded = load_config_text(head + subsets, "t.yaml");
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded.value().services.at(0).health_check.has_value());
  EXPECT_FALSE(loaded.value().services.at(0).subsets.at(0).rate_limit.has_value());
}

TEST(HealthCheckKeys, AnEmptyMapChecksWithDefaults) {
  const auto loaded = load_config_text(head + subsets + "    health_check: {}\n", "t.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& hc = loaded.value().services.at(0).health_check;
  ASSERT_TRUE(hc.has_value());
  EXPECT_EQ(hc->path, "/healthz");
  EXPECT_EQ(hc->interval, milliseconds(5000));
  EXPECT_EQ(hc->timeout, milliseconds(1000));
  EXPECT_EQ(hc->healthy_threshold, 2u);
  EXPECT_EQ(hc->unhealthy_threshold, 3u);
  ASSERT_EQ(hc->expected_statuses.size(), 1u);
  EXPECT_EQ(hc->expected_statuses[0].low, 200);
  EXPECT_EQ(hc->expected_statuses[0].high, 399);
  EXPECT_EQ(hc->where.line, 7);
}

TEST(HealthCheckKeys, ValuesAreRead) {
  const auto loaded = load_config_text(head + subsets + R"(    health_check:
      path: /ready
      interval: 2s
      timeout: 300ms
      healthy_threshold: 1
      unhealthy_threshold: 5
      expected_statuses: ["200-299", 418]
)",
                                       "t.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& hc = *loaded.value().services.at(0).health_check;
  EXPECT_EQ(hc.path, "/ready");
  EXPECT_EQ(hc.interval, milliseconds(2000));
  EXPECT_EQ(hc.timeout, milliseconds(300));
  EXPECT_EQ(hc.healthy_threshold, 1u);
  EXPECT_EQ(hc.unhealthy_threshold, 5u);
  ASSERT_EQ(hc.expected_statuses.size(), 2u);
  EXPECT_EQ(hc.expected_statuses[0].low, 200);
  EXPECT_EQ(hc.expected_statuses[0].high, 299);
  EXPECT_EQ(hc.expected_statuses[1].low, 418);
  EXPECT_EQ(hc.expected_statuses[1].high, 418);
}

TEST(HealthCheckKeys, AShortIntervalShortensTheDefaultTimeout) {
  const auto loaded =
      load_config_text(head + subsets + "    health_check: {interval: 400ms}\n", "t.yaml");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.value().services.at(0).health_check->timeout, milliseconds(400));
}

TEST(HealthCheckKeys, ErrorsNameThePlace) {
  const auto got = errors(head + subsets + R"(    health_check:
      path: healthz
      interval: 1s
      timeout: 2s
      unhealthy_threshold: 0
      expected_statuses: ["200-99", 600, ok]
      intervall: 3s
)");
  ASSERT_EQ(got.size(), 7u) << ::testing::PrintToString(got);
  EXPECT_EQ(got[0],
            "t.yaml:8:13: service 'api' health_check: path 'healthz' must start with '/' "
            "and contain no spaces");
  EXPECT_EQ(got[1],
            "t.yaml:10:16: service 'api' health_check: timeout is longer than interval "
            "(checks would overlap)");
  EXPECT_TRUE(got[2].starts_with("t.yaml:11:28: service 'api' health_check: unhealthy_threshold"))
      << got[2];
  EXPECT_EQ(got[3],
            "t.yaml:12:27: service 'api' health_check: expected status '200-99' is not a "
            "code or a range of codes from 100 to 599 (like 200 or 200-399)");
  EXPECT_TRUE(got[4].starts_with("t.yaml:12:37: service 'api' health_check: expected status '600'"))
      << got[4];
  EXPECT_TRUE(got[5].starts_with("t.yaml:12:42: service 'api' health_check: expected status 'ok'"))
      << got[5];
  EXPECT_EQ(got[6],
            "t.yaml:13:7: service 'api' health_check: unknown key 'intervall' (did you mean "
            "'interval'?)");
}

TEST(RateLimitKeys, ValuesAndDefaultBurst) {
  const auto loaded = load_config_text(head + R"(    subsets:
      stable: { endpoints: [127.0.0.1:9001] }
      canary: { endpoints: [127.0.0.1:9002], rate_limit: { requests_per_second: 50, burst: 100 } }
      slow: { endpoints: [127.0.0.1:9003], rate_limit: { requests_per_second: 2.5 } }
)",
                                       "t.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& s = loaded.value().services.at(0).subsets;
  EXPECT_FALSE(s.at(0).rate_limit.has_value());
  ASSERT_TRUE(s.at(1).rate_limit.has_value());
  EXPECT_DOUBLE_EQ(s.at(1).rate_limit->requests_per_second, 50.0);
  EXPECT_EQ(s.at(1).rate_limit->burst, 100u);
  ASSERT_TRUE(s.at(2).rate_limit.has_value());
  EXPECT_DOUBLE_EQ(s.at(2).rate_limit->requests_per_second, 2.5);
  EXPECT_EQ(s.at(2).rate_limit->burst, 3u);  // one second's worth, rounded up
}

TEST(RateLimitKeys, ErrorsNameThePlace) {
  const auto got = errors(head + R"(    subsets:
      stable: { endpoints: [127.0.0.1:9001], rate_limit: { burst: 0 } }
      canary: { endpoints: [127.0.0.1:9002], rate_limit: { requests_per_second: 0 } }
      other: { endpoints: [127.0.0.1:9003], rate_limit: { requests_per_second: fast, brust: 2 } }
)");
  ASSERT_EQ(got.size(), 4u) << ::testing::PrintToString(got);
  EXPECT_EQ(got[0],
            "t.yaml:6:58: service 'api' subset 'stable' rate_limit: missing required key "
            "'requests_per_second'");
  EXPECT_EQ(got[1],
            "t.yaml:7:81: service 'api' subset 'canary' rate_limit: requests_per_second "
            "must be from 0.00002 to 1000000000");
  EXPECT_TRUE(
      got[2].starts_with("t.yaml:8:80: service 'api' subset 'other' rate_limit: "
                         "requests_per_second 'fast' is not a number"))
      << got[2];
  EXPECT_TRUE(got[3].find("unknown key 'brust'") != std::string::npos) << got[3];
}

}  // namespace
}  // namespace cohort::config
