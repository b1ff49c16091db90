// The resilience keys of a service: defaults, values, and errors with their place.

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
    subsets:
      stable: { endpoints: [127.0.0.1:9001] }
)";

TEST(ResilienceKeys, DefaultsWhenAbsent) {
  const auto loaded = load_config_text(head, "t.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& s = loaded.value().services.at(0);
  EXPECT_EQ(s.failover, failover_mode::stable);
  EXPECT_FALSE(s.outlier_detection.enabled);
  EXPECT_TRUE(s.retries.enabled);
  EXPECT_TRUE(s.retries.to_stable);
  EXPECT_EQ(s.retries.budget, 2000u);
  EXPECT_EQ(s.retries.min_concurrency, 3u);
  EXPECT_FALSE(s.per_try_timeout.has_value());
}

TEST(ResilienceKeys, ValuesAreRead) {
  const auto loaded = load_config_text(head + R"(    per_try_timeout: 250ms
    failover: none
    outlier_detection: {consecutive_errors: 7, base_ejection: 30s, max_ejection_percent: 50%}
    retries: {to_stable: false, budget: 10%, min_concurrency: 1}
)",
                                       "t.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& s = loaded.value().services.at(0);
  EXPECT_EQ(s.per_try_timeout, milliseconds(250));
  EXPECT_EQ(s.failover, failover_mode::none);
  EXPECT_TRUE(s.outlier_detection.enabled);
  EXPECT_EQ(s.outlier_detection.consecutive_errors, 7u);
  EXPECT_EQ(s.outlier_detection.base_ejection, milliseconds(30'000));
  EXPECT_EQ(s.outlier_detection.max_ejection, 5000u);
  EXPECT_TRUE(s.retries.enabled);
  EXPECT_FALSE(s.retries.to_stable);
  EXPECT_EQ(s.retries.budget, 1000u);
  EXPECT_EQ(s.retries.min_concurrency, 1u);
}

TEST(ResilienceKeys, AnEmptyOutlierMapTurnsDetectionOnWithDefaults) {
  const auto loaded = load_config_text(head + "    outlier_detection: {}\n", "t.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& o = loaded.value().services.at(0).outlier_detection;
  EXPECT_TRUE(o.enabled);
  EXPECT_EQ(o.consecutive_errors, 5u);
  EXPECT_EQ(o.base_ejection, milliseconds(10'000));
  EXPECT_EQ(o.max_ejection, 10000u);
}

TEST(ResilienceKeys, ErrorsNameThePlace) {
  const auto got = errors(head + R"(    request_timeout: 1s
    per_try_timeout: 2s
    failover: canary
    outlier_detection: {consecutive_errors: 0, base_ejection: 10, max_ejection_percent: 120%}
    retries: {to_stabel: true}
)");
  ASSERT_EQ(got.size(), 6u) << ::testing::PrintToString(got);
  EXPECT_EQ(got[0],
            "t.yaml:8:22: service 'api': per_try_timeout is longer than request_timeout (the "
            "whole budget)");
  EXPECT_TRUE(got[1].starts_with("t.yaml:9:15: service 'api': failover")) << got[1];
  EXPECT_TRUE(
      got[2].starts_with("t.yaml:10:45: service 'api' outlier_detection: "
                         "consecutive_errors"))
      << got[2];
  EXPECT_TRUE(got[3].starts_with("t.yaml:10:63: service 'api' outlier_detection: base_ejection"))
      << got[3];
  EXPECT_TRUE(
      got[4].starts_with("t.yaml:10:89: service 'api' outlier_detection: "
                         "max_ejection_percent"))
      << got[4];
  EXPECT_EQ(got[5],
            "t.yaml:11:15: service 'api' retries: unknown key 'to_stabel' (did you mean "
            "'to_stable'?)");
}

TEST(ResilienceKeys, CircuitBreakersAreOptional) {
  const auto absent = load_config_text(head, "t.yaml");
  ASSERT_TRUE(absent.ok());
  const auto& none = absent.value().services.at(0).circuit_breakers;
  EXPECT_FALSE(none.max_connections || none.max_pending || none.max_requests);

  const auto loaded = load_config_text(
      head + "    circuit_breakers: {max_requests: 100, max_pending: 7}\n", "t.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& b = loaded.value().services.at(0).circuit_breakers;
  EXPECT_EQ(b.max_requests, 100u);
  EXPECT_EQ(b.max_pending, 7u);
  EXPECT_FALSE(b.max_connections.has_value());
}

TEST(ResilienceKeys, CircuitBreakerErrorsNameThePlace) {
  const auto got = errors(head + "    circuit_breakers: {max_requests: 0, max_conections: 5}\n");
  ASSERT_EQ(got.size(), 2u) << ::testing::PrintToString(got);
  EXPECT_TRUE(got[0].starts_with("t.yaml:7:") &&
              got[0].find("circuit_breakers") != std::string::npos)
      << got[0];
  EXPECT_TRUE(got[1].find("max_conections") != std::string::npos) << got[1];
}

}  // namespace
}  // namespace cohort::config
