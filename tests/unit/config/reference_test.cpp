// The reference configuration and the minimal example load with the values
// their comments promise.

#include <gtest/gtest.h>

#include <string>

#include "config/loader.hpp"

namespace cohort::config {
namespace {

using std::chrono::milliseconds;

config load_example(const std::string& name) {
  const std::string path = std::string(COHORT_SOURCE_DIR) + "/examples/configs/" + name;
  auto loaded = load_config_file(path);
  std::string problems;
  if (!loaded) {
    for (const auto& d : loaded.err()) {
      problems += d.to_string() + "\n";
    }
  }
  EXPECT_TRUE(loaded.ok()) << problems;
  return loaded ? std::move(loaded).value() : config{};
}

TEST(ReferenceConfig, Gateway) {
  const config c = load_example("cohort.example.yaml");
  EXPECT_TRUE(c.source_file.ends_with("examples/configs/cohort.example.yaml"));
  ASSERT_EQ(c.gateway.listeners.size(), 1u);
  const auto& l = c.gateway.listeners[0];
  EXPECT_EQ(l.name, "public");
  EXPECT_EQ(l.address.host, "127.0.0.1");
  EXPECT_EQ(l.address.port, 8080);
  EXPECT_FALSE(l.tls.has_value());
  EXPECT_EQ(l.where.line, 7);
  EXPECT_EQ(l.where.column, 7);
  EXPECT_EQ(c.gateway.workers, 0u);
  EXPECT_EQ(c.gateway.decision_header, "x-cohort-decision");
  EXPECT_EQ(c.gateway.limits.max_header_bytes, 65536u);
  EXPECT_EQ(c.gateway.limits.header_timeout, milliseconds(10'000));
  EXPECT_EQ(c.gateway.limits.idle_timeout, milliseconds(60'000));
  // Not in the file: the defaults of config.hpp.
  EXPECT_EQ(c.gateway.limits.max_headers, 100u);
  EXPECT_EQ(c.gateway.limits.max_body_bytes, 0u);
  EXPECT_EQ(c.gateway.limits.drain_timeout, milliseconds(15'000));
  EXPECT_EQ(c.gateway.access_log.mode, access_log_mode::off);

  EXPECT_EQ(format_host_port(c.admin.address), "127.0.0.1:9901");
  EXPECT_EQ(c.admin.token_file, "");
  EXPECT_EQ(c.state.store, "sqlite:cohort-state.db");
}

TEST(ReferenceConfig, ServicesAndRoutes) {
  const config c = load_example("cohort.example.yaml");
  ASSERT_EQ(c.services.size(), 1u);
  const auto& s = c.services[0];
  EXPECT_EQ(s.name, "profile-api");
  ASSERT_EQ(s.subsets.size(), 3u);
  EXPECT_EQ(s.subsets[0].name, "stable");
  ASSERT_EQ(s.subsets[0].endpoints.size(), 2u);
  EXPECT_EQ(format_host_port(s.subsets[0].endpoints[1]), "127.0.0.1:9002");
  EXPECT_EQ(s.subsets[1].name, "baseline");
  EXPECT_EQ(s.subsets[2].name, "canary");
  EXPECT_EQ(format_host_port(s.subsets[2].endpoints[0]), "127.0.0.1:9101");
  EXPECT_EQ(s.connect_timeout, milliseconds(1000));
  EXPECT_EQ(s.request_timeout, milliseconds(15'000));
  EXPECT_EQ(s.lb, lb_policy::least_request);

  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].name, "profile");
  EXPECT_EQ(c.routes[0].service, "profile-api");
  EXPECT_EQ(c.routes[0].match.path_prefix, "/profile");
  EXPECT_FALSE(c.routes[0].match.path_exact.has_value());
  EXPECT_TRUE(c.routes[0].match.headers.empty());
}

TEST(ReferenceConfig, RolloutSessionAndCohorts) {
  const config c = load_example("cohort.example.yaml");
  ASSERT_EQ(c.rollouts.size(), 1u);
  const auto& r = c.rollouts[0];
  EXPECT_EQ(r.name, "profile-api");
  EXPECT_EQ(r.service, "profile-api");
  EXPECT_EQ(r.stable, "stable");
  EXPECT_EQ(r.canary, "canary");
  EXPECT_EQ(r.baseline, "baseline");
  EXPECT_EQ(r.salt, "");

  ASSERT_EQ(r.session.key.size(), 3u);
  EXPECT_EQ(r.session.key[0].kind, key_source_kind::header);
  EXPECT_EQ(r.session.key[0].name, "X-User-Id");
  EXPECT_EQ(r.session.key[1].kind, key_source_kind::cookie);
  EXPECT_EQ(r.session.key[1].name, "session");
  EXPECT_EQ(r.session.key[2].kind, key_source_kind::jwt_claim);
  EXPECT_EQ(r.session.key[2].name, "sub");
  EXPECT_EQ(r.session.anonymous, anonymous_policy::cookie);
  EXPECT_EQ(r.session.cookie_name, "cohort_uid");

  ASSERT_EQ(r.cohorts.size(), 4u);
  EXPECT_EQ(r.cohorts[0].name, "internal");
  EXPECT_EQ(r.cohorts[0].pin, pin_target::canary);
  ASSERT_EQ(r.cohorts[0].match.headers.size(), 1u);
  EXPECT_EQ(r.cohorts[0].match.headers[0].name, "X-User-Cohort");
  EXPECT_EQ(r.cohorts[0].match.headers[0].kind, match_kind::exact);
  EXPECT_EQ(r.cohorts[0].match.headers[0].value, "internal");

  EXPECT_EQ(r.cohorts[1].name, "legacy-mobile");
  EXPECT_EQ(r.cohorts[1].pin, pin_target::stable);
  ASSERT_EQ(r.cohorts[1].match.headers.size(), 1u);
  EXPECT_EQ(r.cohorts[1].match.headers[0].kind, match_kind::semver);
  EXPECT_EQ(r.cohorts[1].match.headers[0].value, "<5.2.0");
  EXPECT_FALSE(r.cohorts[1].match.headers[0].invert);

  EXPECT_EQ(r.cohorts[2].name, "beta");
  EXPECT_EQ(r.cohorts[2].pin, pin_target::none);
  EXPECT_EQ(r.cohorts[2].match.users, (std::vector<std::string>{"2048", "4096", "8192"}));

  EXPECT_EQ(r.cohorts[3].match.headers[0].kind, match_kind::regex);
  EXPECT_EQ(r.cohorts[3].match.headers[0].value, ".*0$");
}

TEST(ReferenceConfig, RolloutStepsAnalysisWebhooks) {
  const config c = load_example("cohort.example.yaml");
  ASSERT_EQ(c.rollouts.size(), 1u);
  const auto& r = c.rollouts[0];
  EXPECT_EQ(r.weight, 0u);
  ASSERT_EQ(r.steps.size(), 7u);
  EXPECT_EQ(r.steps[0].kind, step_kind::cohort);
  EXPECT_EQ(r.steps[0].cohort, "beta");
  EXPECT_EQ(r.steps[1].kind, step_kind::weight);
  EXPECT_EQ(r.steps[1].weight, 100u);
  EXPECT_EQ(r.steps[2].weight, 500u);
  EXPECT_EQ(r.steps[3].cohort, "ids-ending-0");
  EXPECT_EQ(r.steps[4].weight, 2500u);
  EXPECT_EQ(r.steps[5].kind, step_kind::pause);
  EXPECT_FALSE(r.steps[5].pause.has_value());  // manual
  EXPECT_EQ(r.steps[6].weight, 5000u);
  EXPECT_EQ(r.steps[6].where.line, 70);
  EXPECT_EQ(r.steps[6].where.column, 9);

  const auto& a = r.analysis;
  EXPECT_EQ(a.interval, milliseconds(15'000));
  EXPECT_EQ(a.threshold, 5u);
  EXPECT_EQ(a.min_requests, 1000u);
  EXPECT_EQ(a.no_data_deadline, milliseconds(600'000));  // default
  ASSERT_EQ(a.metrics.size(), 2u);
  EXPECT_EQ(a.metrics[0].name, "success-rate");
  EXPECT_DOUBLE_EQ(a.metrics[0].min.value(), 0.99);
  EXPECT_FALSE(a.metrics[0].max.has_value());
  EXPECT_EQ(a.metrics[1].name, "latency-p99");
  EXPECT_DOUBLE_EQ(a.metrics[1].max.value(), 0.5);
  EXPECT_FALSE(a.metrics[1].prometheus.has_value());
  ASSERT_TRUE(a.judge.has_value());
  EXPECT_EQ(a.judge->method, "mann-whitney");
  EXPECT_DOUBLE_EQ(a.judge->pass, 95);
  EXPECT_DOUBLE_EQ(a.judge->marginal, 75);
  EXPECT_DOUBLE_EQ(a.judge->confidence, 0.98);
  ASSERT_TRUE(a.sequential.has_value());
  EXPECT_DOUBLE_EQ(a.sequential->alpha, 0.01);
  EXPECT_DOUBLE_EQ(a.sequential->tolerance, 0.0);

  ASSERT_EQ(r.webhooks.size(), 1u);
  EXPECT_EQ(r.webhooks[0].type, webhook_type::pre_rollout);
  EXPECT_EQ(r.webhooks[0].name, "pre-rollout");
  EXPECT_EQ(r.webhooks[0].url, "http://127.0.0.1:9500/ready");
  EXPECT_EQ(r.webhooks[0].timeout, milliseconds(5000));
  EXPECT_EQ(r.promotion, promotion_mode::automatic);
}

TEST(MinimalConfig, LoadsWithDefaults) {
  const config c = load_example("minimal.yaml");
  ASSERT_EQ(c.gateway.listeners.size(), 1u);
  EXPECT_EQ(c.gateway.listeners[0].address.port, 8080);
  ASSERT_EQ(c.services.size(), 1u);
  ASSERT_EQ(c.services[0].subsets.size(), 1u);
  EXPECT_EQ(c.services[0].subsets[0].name, "stable");
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].service, "profile-api");
  EXPECT_FALSE(c.routes[0].match.path_prefix.has_value());
  EXPECT_TRUE(c.rollouts.empty());
  EXPECT_EQ(format_host_port(c.admin.address), "127.0.0.1:9901");
  EXPECT_EQ(c.state.store, "sqlite:cohort-state.db");
  EXPECT_EQ(c.gateway.limits.max_header_bytes, 65536u);
}

// The keys the reference file shows commented out are accepted and read.
TEST(ReferenceConfig, CommentedOutKeysAreAccepted) {
  const auto loaded = load_config_text(R"(
gateway:
  listeners:
    - name: public
      address: 0.0.0.0:8443
      tls: { certificate: tls/cert.pem, private_key: tls/key.pem }
  workers: 4
  limits: { max_headers: 50, max_body_bytes: 100MiB, drain_timeout: 30s, header_timeout: 250ms }
  access_log: { mode: sampled, sample: 0.5% }
admin:
  address: 0.0.0.0:9901
  token_file: admin.token
state:
  store: etcd://127.0.0.1:2379/cohort
services:
  - name: api
    subsets:
      v1: { endpoints: ["[::1]:9001"] }
      v2: { endpoints: [127.0.0.1:9002] }
    lb: round_robin
rollouts:
  - name: api
    service: api
    stable: v1
    canary: v2
    salt: s1
    revision: "42"
    session: { key: [ {query: uid}, {client_ip: true} ], anonymous: random, cookie_max_age: 1h }
    cohorts:
      - name: staff
        match:
          host: "*.corp.example.com"
          methods: [GET, POST]
          cookies: [ { name: staff, present: true } ]
          query: [ { name: debug, absent: true, invert: true } ]
    steps:
      - pause: 10m
      - cohort: staff
    analysis:
      no_data_deadline: 5m
      metrics:
        - name: checkout-errors
          prometheus: { address: http://127.0.0.1:9090, query: 'sum(rate(x[1m]))' }
          max: 0.5
        - name: requests
          min: 100
        - name: error-rate
          max: 0.02
      judge: { confidence: 0.95 }
      sequential: { alpha: 0.05, tolerance: 5% }
    webhooks:
      - { type: confirm-promotion, url: "http://127.0.0.1:9500/gate", name: gate }
    promotion: manual
routes:
  - name: api
    match: { host: api.example.com, path_regex: "/v[12]/.*", headers: [ {name: X-Beta, prefix: "y"} ] }
    service: api
)",
                                       "extra.yaml");
  std::string problems;
  if (!loaded) {
    for (const auto& d : loaded.err()) {
      problems += d.to_string() + "\n";
    }
  }
  ASSERT_TRUE(loaded.ok()) << problems;
  const config& c = *loaded;
  ASSERT_TRUE(c.gateway.listeners[0].tls.has_value());
  EXPECT_EQ(c.gateway.listeners[0].tls->certificate, "tls/cert.pem");
  EXPECT_EQ(c.gateway.listeners[0].tls->private_key, "tls/key.pem");
  EXPECT_EQ(c.gateway.workers, 4u);
  EXPECT_EQ(c.gateway.limits.max_headers, 50u);
  EXPECT_EQ(c.gateway.limits.max_body_bytes, 100u * 1024 * 1024);
  EXPECT_EQ(c.gateway.limits.drain_timeout, milliseconds(30'000));
  EXPECT_EQ(c.gateway.limits.header_timeout, milliseconds(250));
  EXPECT_EQ(c.gateway.access_log.mode, access_log_mode::sampled);
  EXPECT_DOUBLE_EQ(c.gateway.access_log.sample_ratio, 0.005);
  EXPECT_EQ(c.admin.token_file, "admin.token");
  EXPECT_EQ(c.state.store, "etcd://127.0.0.1:2379/cohort");
  EXPECT_EQ(c.services[0].subsets[0].endpoints[0].host, "::1");
  EXPECT_EQ(c.services[0].lb, lb_policy::round_robin);

  const auto& r = c.rollouts[0];
  EXPECT_EQ(r.stable, "v1");
  EXPECT_EQ(r.canary, "v2");
  EXPECT_EQ(r.baseline, "");
  EXPECT_EQ(r.revision, "42");
  EXPECT_EQ(r.salt, "s1");
  ASSERT_EQ(r.session.key.size(), 2u);
  EXPECT_EQ(r.session.key[0].kind, key_source_kind::query);
  EXPECT_EQ(r.session.key[0].name, "uid");
  EXPECT_EQ(r.session.key[1].kind, key_source_kind::client_ip);
  EXPECT_EQ(r.session.anonymous, anonymous_policy::random);
  EXPECT_EQ(r.session.cookie_max_age, milliseconds(3'600'000));
  const auto& m = r.cohorts[0].match;
  EXPECT_EQ(m.host, "*.corp.example.com");
  EXPECT_EQ(m.methods, (std::vector<std::string>{"GET", "POST"}));
  EXPECT_EQ(m.cookies[0].kind, match_kind::present);
  EXPECT_EQ(m.query[0].kind, match_kind::absent);
  EXPECT_TRUE(m.query[0].invert);
  EXPECT_EQ(r.steps[0].pause, milliseconds(600'000));
  EXPECT_EQ(r.analysis.no_data_deadline, milliseconds(300'000));
  EXPECT_EQ(r.analysis.metrics[0].prometheus->address, "http://127.0.0.1:9090");
  EXPECT_EQ(r.analysis.metrics[0].prometheus->query, "sum(rate(x[1m]))");
  EXPECT_DOUBLE_EQ(r.analysis.metrics[0].max.value(), 0.5);
  EXPECT_DOUBLE_EQ(r.analysis.metrics[1].min.value(), 100);
  EXPECT_DOUBLE_EQ(r.analysis.metrics[2].max.value(), 0.02);
  EXPECT_DOUBLE_EQ(r.analysis.judge->confidence, 0.95);
  EXPECT_DOUBLE_EQ(r.analysis.judge->pass, 95);  // default
  EXPECT_DOUBLE_EQ(r.analysis.sequential->alpha, 0.05);
  EXPECT_DOUBLE_EQ(r.analysis.sequential->tolerance, 0.05);
  EXPECT_EQ(r.webhooks[0].type, webhook_type::confirm_promotion);
  EXPECT_EQ(r.webhooks[0].name, "gate");
  EXPECT_EQ(r.promotion, promotion_mode::manual);
  EXPECT_EQ(c.routes[0].match.host, "api.example.com");
  EXPECT_EQ(c.routes[0].match.path_regex, "/v[12]/.*");
  EXPECT_EQ(c.routes[0].match.headers[0].kind, match_kind::prefix);
  EXPECT_EQ(c.routes[0].match.headers[0].value, "y");
}

}  // namespace
}  // namespace cohort::config
