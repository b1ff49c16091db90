// Each class of configuration error, with its exact place and message.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader.hpp"
#include "config_errors.hpp"

namespace cohort::config {
namespace {

// Lines 1-2: a valid gateway.
const std::string gateway = "gateway:\n  listeners: [{name: p, address: 127.0.0.1:0}]\n";
// Lines 3-7: a valid service with subsets stable and canary.
const std::string service = R"(services:
  - name: api
    subsets:
      stable: { endpoints: [127.0.0.1:9001] }
      canary: { endpoints: [127.0.0.1:9002] }
)";

TEST(ConfigErrors, TheBaseIsValid) {
  EXPECT_EQ(errors(gateway + service), lines{});
}

TEST(ConfigErrors, UnknownKeysAreReportedAtTheKeyWithASuggestion) {
  EXPECT_EQ(errors(gateway + R"(services:
  - name: x
    subsets:
      stable: { endpionts: [127.0.0.1:1] }
    timeout: 1s
rolouts: []
)"),
            (lines{
                "t.yaml:6:17: service 'x' subset 'stable': unknown key 'endpionts' (did you mean "
                "'endpoints'?)",
                "t.yaml:7:5: service 'x': unknown key 'timeout'",
                "t.yaml:8:1: configuration: unknown key 'rolouts' (did you mean 'rollouts'?)",
            }));
}

TEST(ConfigErrors, RepeatedKey) {
  EXPECT_EQ(errors(gateway + "admin:\n  address: 127.0.0.1:1\n  address: 127.0.0.1:2\n"),
            lines{"t.yaml:5:3: admin: key 'address' is repeated (first at line 4)"});
}

TEST(ConfigErrors, MissingRequiredKeyAtTheObject) {
  EXPECT_EQ(errors(gateway + "services:\n  - subsets: { stable: { endpoints: [127.0.0.1:1] } }\n"),
            lines{"t.yaml:4:5: service 1: missing required key 'name'"});
  EXPECT_EQ(errors("admin: {}\n"),
            lines{"t.yaml:1:1: configuration: missing required key 'gateway'"});
  // An empty object is reported at its key, not at the next line's token.
  EXPECT_EQ(errors("gateway:\nservices: []\n"),
            lines{"t.yaml:1:1: gateway: missing required key 'listeners'"});
}

TEST(ConfigErrors, BadValuesAtTheValue) {
  EXPECT_EQ(
      errors(gateway + R"(services:
  - name: x
    subsets: { stable: { endpoints: [127.0.0.1:1, "nohost", "127.0.0.1:0"] } }
    lb: round-robin
    connect_timeout: 10x
    request_timeout: 0s
)"),
      (lines{
          "t.yaml:5:51: service 'x' subset 'stable': endpoint 'nohost' is not host:port (like "
          "127.0.0.1:9001)",
          "t.yaml:5:61: service 'x' subset 'stable': endpoint '127.0.0.1:0' needs a port "
          "(1..65535)",
          "t.yaml:6:9: service 'x': lb 'round-robin' is not one of least_request, round_robin "
          "(did you mean 'round_robin'?)",
          "t.yaml:7:22: service 'x': connect_timeout '10x' is not a duration (like 250ms, "
          "15s, 5m, 1h)",
          "t.yaml:8:22: service 'x': request_timeout must be longer than 0",
      }));
}

TEST(ConfigErrors, EmptyValueIsReportedAtItsKey) {
  EXPECT_EQ(errors(gateway + "state:\n  store:\n"),
            lines{"t.yaml:4:3: state: store needs a value"});
}

TEST(ConfigErrors, ServiceSubsets) {
  EXPECT_EQ(errors(gateway + R"(services:
  - name: x
    subsets: {}
  - name: y
    subsets: { stable: { endpoints: [] } }
  - name: x
    subsets: [stable]
)"),
            (lines{
                "t.yaml:5:14: service 'x': subsets must name at least one subset",
                "t.yaml:7:37: service 'y' subset 'stable': endpoints must list at least one "
                "host:port",
                "t.yaml:8:11: service 'x': name is already used by the service at line 4",
                "t.yaml:9:14: service 'x': subsets must be a map of subset names to {endpoints: "
                "[...]}",
            }));
}

TEST(ConfigErrors, Gateway) {
  EXPECT_EQ(
      errors(R"(gateway:
  listeners:
    - { name: a, address: "localhost" }
    - { name: a, address: "127.0.0.1:80" }
    - { name: b, address: "127.0.0.1:80" }
  workers: 0
  decision_header: "x y"
  limits: { max_header_bytes: 64kb, max_headers: 0, idle_timeout: 1d }
  access_log: { mode: all, sample: 5% }
)"),
      (lines{
          "t.yaml:3:27: listener 'a': address 'localhost' is not host:port (like "
          "127.0.0.1:8080 or [::1]:8080)",
          "t.yaml:4:15: listener 'a': name is already used by the listener at line 3",
          "t.yaml:5:27: listener 'b': address 127.0.0.1:80 is already used by listener 'a'",
          "t.yaml:6:12: gateway: workers 0 is below 1",
          "t.yaml:7:20: gateway: decision_header 'x y' is not a valid header name",
          "t.yaml:8:31: gateway limits: max_header_bytes '64kb' is not a size in bytes (like "
          "65536, 64KiB, 100MiB)",
          "t.yaml:8:50: gateway limits: max_headers 0 is below 1",
          "t.yaml:8:67: gateway limits: idle_timeout '1d' is not a duration (like 250ms, 15s, "
          "5m, 1h)",
          "t.yaml:9:36: gateway access_log: sample only applies with mode: sampled",
      }));
  EXPECT_EQ(errors("gateway:\n  listeners: []\n  workers: many\n"),
            (lines{
                "t.yaml:2:14: gateway: listeners must list at least one listener",
                "t.yaml:3:12: gateway: workers 'many' is not auto or a number",
            }));
  EXPECT_EQ(errors("gateway:\n  listeners: [{name: a, address: 127.0.0.1:1, tls: {certificate: "
                   "c.pem}}]\n"),
            lines{"t.yaml:2:52: listener 'a' tls: missing required key 'private_key'"});
}

TEST(ConfigErrors, AdminAndState) {
  EXPECT_EQ(errors(gateway + "admin: { address: 0.0.0.0:9901 }\nstate: { store: redis://x }\n"),
            (lines{
                "t.yaml:3:19: admin: address 0.0.0.0:9901 is not loopback, so token_file is "
                "required",
                "t.yaml:4:17: state: store 'redis://x' must start with sqlite: or etcd:// (like "
                "sqlite:cohort-state.db)",
            }));
  // Loopback addresses need no token; an etcd store needs host:port.
  EXPECT_EQ(errors(gateway + "admin: { address: \"[::1]:1\" }\nstate: { store: etcd://h/x }\n"),
            lines{"t.yaml:4:17: state: store 'etcd://h/x': 'h' is not host:port (like "
                  "etcd://127.0.0.1:2379/cohort)"});
  EXPECT_EQ(errors(gateway + "admin: { address: 127.3.2.1:1 }\nstate: { store: sqlite:a.db }\n"),
            lines{});
  EXPECT_EQ(errors(gateway + "admin: { address: 10.0.0.1:1, token_file: t }\n"), lines{});
}

TEST(ConfigErrors, RouteNamesAServiceThatDoesNotExist) {
  EXPECT_EQ(errors(gateway + service + R"(routes:
  - name: profile
    service: nope
  - name: other
    service: apii
)"),
            (lines{
                "t.yaml:10:14: route 'profile': service 'nope' is not defined",
                "t.yaml:12:14: route 'other': service 'apii' is not defined (did you mean 'api'?)",
            }));
}

TEST(ConfigErrors, RouteServiceNeedsAStableSubsetOrARollout) {
  const std::string services = R"(services:
  - name: api
    subsets:
      v1: { endpoints: [127.0.0.1:9001] }
      v2: { endpoints: [127.0.0.1:9002] }
routes:
  - name: r
    service: api
)";
  EXPECT_EQ(errors(gateway + services),
            lines{"t.yaml:10:14: route 'r': service 'api' has no subset named 'stable' and no "
                  "rollout names its stable subset"});
  EXPECT_EQ(
      errors(gateway + services + "rollouts: [{name: ro, service: api, stable: v1, canary: v2}]\n"),
      lines{});
}

TEST(ConfigErrors, RouteMatch) {
  EXPECT_EQ(errors(gateway + service + R"(routes:
  - name: r
    service: api
    match:
      path_prefix: profile
      path_regex: "("
      methods: [GET, "P T"]
      users: [a]
      headers:
        - { name: X, exact: a, prefix: b }
        - { name: Y }
        - { name: "bad name", present: false }
)"),
            (lines{
                "t.yaml:12:7: route 'r' match: use only one of path_exact, path_prefix and "
                "path_regex",
                "t.yaml:12:20: route 'r' match: path_prefix 'profile' must start with '/'",
                "t.yaml:13:19: route 'r' match: path_regex '(' does not compile: missing ): (",
                "t.yaml:14:22: route 'r' match: method 'P T' is not an HTTP method",
                "t.yaml:15:7: route 'r' match: unknown key 'users'",
                "t.yaml:17:40: route 'r' header 'X': has both exact and prefix; use one matcher "
                "per entry (list the header twice to combine)",
                "t.yaml:18:11: route 'r' header 'Y': needs one of exact, prefix, suffix, regex, "
                "present: true, absent: true, semver",
                "t.yaml:19:19: route 'r' header 'bad name': 'bad name' is not a valid header name",
                "t.yaml:19:40: route 'r' header 'bad name': present must be true (write absent: "
                "true for the opposite)",
            }));
}

// Lines 8-9: the start of a rollout on the service above.
const std::string rollout = "rollouts:\n  - name: profile-api\n    service: api\n";

TEST(ConfigErrors, RolloutWeightAboveAHundredPercent) {
  EXPECT_EQ(errors(gateway + service + rollout + R"(    steps:
      - weight: 1%
      - weight: 5%
      - weight: 120%
)"),
            lines{"t.yaml:14:17: rollout 'profile-api' step 3: weight 120% is above 100%"});
}

TEST(ConfigErrors, RolloutStepsOnlyGrowThePopulation) {
  EXPECT_EQ(
      errors(gateway + service + rollout + R"(    cohorts:
      - { name: staff, match: { headers: [ { name: X-Staff, present: true } ] }, pin: canary }
      - { name: beta, match: { users: ["1"] } }
    steps:
      - weight: 5%
      - weight: 2%
      - cohort: staff
      - cohort: betta
      - cohort: beta
      - cohort: beta
      - pause: forever
      - weight: 5
      - { weight: 10%, pause: 1m }
      - weight: 5%
)"),
      (lines{
          "t.yaml:16:17: rollout 'profile-api' step 2: weight 2% is below the 5% of step 1; "
          "the population only grows",
          "t.yaml:17:17: rollout 'profile-api' step 3: cohort 'staff' is pinned to canary, "
          "so a step cannot add it",
          "t.yaml:18:17: rollout 'profile-api' step 4: cohort 'betta' is not defined (did "
          "you mean 'beta'?)",
          "t.yaml:20:17: rollout 'profile-api' step 6: cohort 'beta' was already added by the "
          "step at line 19",
          "t.yaml:21:16: rollout 'profile-api' step 7: pause 'forever' is not manual or a "
          "duration (like 10m)",
          "t.yaml:22:17: rollout 'profile-api' step 8: weight '5' is not a share (like 5% or "
          "0.25%; write 5%)",
          "t.yaml:23:9: rollout 'profile-api' step 9: a step is one of {cohort: NAME}, "
          "{weight: SHARE}, {pause: manual or a duration}",
      }));
}

TEST(ConfigErrors, RolloutSubsets) {
  EXPECT_EQ(errors(gateway + service + rollout + "    canary: canry\n    baseline: stable\n"),
            (lines{
                "t.yaml:11:13: rollout 'profile-api': canary: service 'api' has no subset 'canry' "
                "(did you mean 'canary'?)",
                "t.yaml:12:15: rollout 'profile-api': stable and baseline are both subset 'stable'",
            }));
  EXPECT_EQ(errors(gateway + service +
                   "rollouts:\n  - { name: a, service: api }\n  - { name: b, "
                   "service: api }\n  - { name: c, service: web }\n"),
            (lines{
                "t.yaml:10:25: rollout 'b': service 'api' already has rollout 'a' (line 9)",
                "t.yaml:11:25: rollout 'c': service 'web' is not defined",
            }));
}

TEST(ConfigErrors, RolloutCohorts) {
  EXPECT_EQ(
      errors(gateway + service + rollout + R"(    cohorts:
      - name: old
        match: { headers: [ { name: X-App-Version, semver: "<5.2.x" } ] }
        pin: always
      - name: old
        match: {}
      - name: q
        match: { query: [ { name: "", exact: "1" } ], cookies: [ { name: c, regex: "[" } ] }
)"),
      (lines{
          "t.yaml:13:60: rollout 'profile-api' cohort 'old' header 'X-App-Version': semver "
          "range '<5.2.x': '5.2.x' is not a version (1 to 3 numbers, like 5.2.0)",
          "t.yaml:14:14: rollout 'profile-api' cohort 'old': pin 'always' is not one of "
          "canary, stable",
          "t.yaml:15:15: rollout 'profile-api' cohort 'old': name is already used by the "
          "cohort at line 12",
          "t.yaml:16:16: rollout 'profile-api' cohort 'old': match has no condition, so it "
          "would take every request",
          "t.yaml:18:35: rollout 'profile-api' cohort 'q' query parameter 1: name must not be "
          "empty",
          "t.yaml:18:84: rollout 'profile-api' cohort 'q' cookie 'c': regex '[' does not "
          "compile: missing ]: [",
      }));
}

TEST(ConfigErrors, RolloutSession) {
  EXPECT_EQ(errors(gateway + service + rollout + R"(    session:
      key: [ {header: "X Y"}, {client_ip: false}, {cookie: a, header: b}, {ip: x} ]
      anonymous: cokie
      cookie_max_age: forever
)"),
            (lines{
                "t.yaml:12:23: rollout 'profile-api' session key 1: 'X Y' is not a valid header "
                "name",
                "t.yaml:12:43: rollout 'profile-api' session key 2: client_ip must be true (leave "
                "it out instead)",
                "t.yaml:12:51: rollout 'profile-api' session key 3: a key source is one of "
                "{header: NAME}, {cookie: NAME}, {jwt_claim: NAME}, {query: NAME}, {client_ip: "
                "true}",
                "t.yaml:12:76: rollout 'profile-api' session key 4: unknown key 'ip'",
                "t.yaml:13:18: rollout 'profile-api' session: anonymous 'cokie' is not one of "
                "cookie, random, stable (did you mean 'cookie'?)",
                "t.yaml:14:23: rollout 'profile-api' session: cookie_max_age 'forever' is not a "
                "duration (like 250ms, 15s, 5m, 1h)",
            }));
}

TEST(ConfigErrors, RolloutMetrics) {
  EXPECT_EQ(
      errors(gateway + service + rollout + R"(    analysis:
      interval: 0s
      threshold: 0
      metrics:
        - { name: success-rate, min: 99 }
        - { name: error-rate, max: 500ms }
        - { name: latency-p99, max: 5% }
        - { name: latency-p95, max: 1s }
        - { name: checkout, max: 1 }
        - { name: requests, min: 1.5 }
        - { name: error-rate }
        - { name: success-rate, min: 2%, max: 1% }
        - { name: p, prometheus: { address: "127.0.0.1:9090", query: q }, max: 1 }
)"),
      (lines{
          "t.yaml:12:17: rollout 'profile-api' analysis: interval must be longer than 0",
          "t.yaml:13:18: rollout 'profile-api' analysis: threshold 0 is below 1",
          "t.yaml:15:38: rollout 'profile-api' analysis metric 'success-rate': min 99 is not "
          "a ratio between 0 and 1 (write 99% for a percentage)",
          "t.yaml:16:36: rollout 'profile-api' analysis metric 'error-rate': max 500ms is "
          "not a ratio (like 99% or 0.99)",
          "t.yaml:17:37: rollout 'profile-api' analysis metric 'latency-p99': max 5% is not "
          "a latency (like 500ms, or a number of seconds)",
          "t.yaml:18:19: rollout 'profile-api' analysis metric 'latency-p95': 'latency-p95' "
          "is not a built-in metric (did you mean 'latency-p90'?); a custom metric needs "
          "prometheus: {address, query}",
          "t.yaml:19:19: rollout 'profile-api' analysis metric 'checkout': 'checkout' is not "
          "a built-in metric (built-in: success-rate, error-rate, request-success-rate, "
          "2xx-rate, 4xx-rate, 5xx-rate, 4xx-increase, 5xx-increase, latency-p50, latency-p90, "
          "latency-p99, latency-p999, requests); a custom metric needs prometheus: {address, "
          "query}",
          "t.yaml:20:34: rollout 'profile-api' analysis metric 'requests': min 1.5 is not a "
          "whole number of requests",
          "t.yaml:21:11: rollout 'profile-api' analysis metric 'error-rate': needs min or max",
          "t.yaml:21:19: rollout 'profile-api' analysis metric 'error-rate': name is already "
          "used by the metric at line 16",
          "t.yaml:22:19: rollout 'profile-api' analysis metric 'success-rate': name is "
          "already used by the metric at line 15",
          "t.yaml:22:47: rollout 'profile-api' analysis metric 'success-rate': max 1% is "
          "below min 2%",
          "t.yaml:23:45: rollout 'profile-api' analysis metric 'p' prometheus: address "
          "'127.0.0.1:9090' is not an http:// URL (like http://127.0.0.1:9090)",
      }));
}

TEST(ConfigErrors, RolloutJudgeSequentialWebhooksPromotion) {
  EXPECT_EQ(errors(gateway + service + rollout + R"(    analysis:
      judge: { method: t-test, pass: 50, confidence: 0.9999 }
      sequential: { alpha: 0.5, tolerance: -1 }
    webhooks:
      - { type: pre_rollout, url: "https://x" }
      - { url: "http://x" }
    promotion: automatic
)"),
            (lines{
                "t.yaml:12:24: rollout 'profile-api' analysis judge: method 't-test' is not one of "
                "mann-whitney",
                "t.yaml:12:38: rollout 'profile-api' analysis judge: marginal 75 is above pass 50",
                "t.yaml:12:54: rollout 'profile-api' analysis judge: confidence 0.9999 is not "
                "between 0.5 and 0.999",
                "t.yaml:13:28: rollout 'profile-api' analysis sequential: alpha 0.5 is not between "
                "0 and 0.5 (exclusive)",
                "t.yaml:13:44: rollout 'profile-api' analysis sequential: tolerance '-1' is not a "
                "relative tolerance of 0 or more (like 0.05 or 5%)",
                "t.yaml:15:17: rollout 'profile-api' webhook 1: type 'pre_rollout' is not one of "
                "confirm-rollout, pre-rollout, rollout, confirm-promotion, post-rollout, rollback, "
                "event (did you mean 'pre-rollout'?)",
                "t.yaml:15:35: rollout 'profile-api' webhook 1: url 'https://x' is not an http:// "
                "URL",
                "t.yaml:16:9: rollout 'profile-api' webhook 2: missing required key 'type'",
                "t.yaml:17:16: rollout 'profile-api': promotion 'automatic' is not one of auto, "
                "manual",
            }));
}

TEST(ConfigErrors, SeveralErrorsInOneFileAreAllReportedInOrder) {
  const lines found = errors(R"(gateway:
  listeners: [{name: p, address: 127.0.0.1:8080}]
  limits: { header_timeout: soon }
services:
  - name: api
    subsets: { stable: { endpoints: [127.0.0.1:9001] } }
    lb: random
routes:
  - name: r
    service: nope
rollouts:
  - name: ro
    service: api
    steps: [ { weight: 150% } ]
)");
  EXPECT_EQ(found, (lines{
                       "t.yaml:3:29: gateway limits: header_timeout 'soon' is not a duration "
                       "(like 250ms, 15s, 5m, 1h)",
                       "t.yaml:7:9: service 'api': lb 'random' is not one of least_request, "
                       "round_robin",
                       "t.yaml:10:14: route 'r': service 'nope' is not defined",
                       "t.yaml:12:5: rollout 'ro': service 'api' has no subset 'canary' (name the "
                       "canary subset with canary:)",
                       "t.yaml:14:24: rollout 'ro' step 1: weight 150% is above 100%",
                   }));
}

TEST(ConfigErrors, YamlSyntaxErrorHasALocation) {
  EXPECT_EQ(errors("gateway:\n  listeners: [ {name: a, address: 1.2.3.4:5 ]\n"),
            lines{"t.yaml:2:45: YAML syntax error: illegal flow end"});
  EXPECT_EQ(errors("gateway:\n  listeners:\n  - a\n bad: 1\n"),
            lines{"t.yaml:4:2: YAML syntax error: end of map not found"});
}

TEST(ConfigErrors, WrongShapes) {
  EXPECT_EQ(errors(""), lines{"t.yaml:1:1: the configuration is empty (it needs at least "
                              "gateway.listeners)"});
  EXPECT_EQ(errors("- a\n"), lines{"t.yaml:1:1: configuration must be a map of keys to values"});
  EXPECT_EQ(errors("gateway: [1]\n"),
            lines{"t.yaml:1:10: gateway must be a map of keys to values"});
  EXPECT_EQ(errors(gateway + "routes: {}\n"),
            lines{"t.yaml:3:9: configuration: routes must be a list"});
  EXPECT_EQ(errors(gateway + "state: { store: [a] }\n"),
            lines{"t.yaml:3:17: state: store must be a single value, not a list"});
}

TEST(ConfigErrors, UnreadableFileIsOneDiagnosticWithoutALine) {
  const auto loaded = load_config_file("/nonexistent/cohort.yaml");
  ASSERT_FALSE(loaded.ok());
  ASSERT_EQ(loaded.err().size(), 1u);
  EXPECT_EQ(loaded.err()[0].where.line, 0);
  EXPECT_EQ(loaded.err()[0].to_string(),
            "/nonexistent/cohort.yaml: cannot read the file: No such file or directory");
}

TEST(ConfigErrors, DiagnosticToString) {
  const diagnostic d{source_location{"cohort.yaml", 14, 7},
                     "rollout 'profile' step 3: weight 120% is above 100%"};
  EXPECT_EQ(d.to_string(), "cohort.yaml:14:7: rollout 'profile' step 3: weight 120% is above 100%");
}

}  // namespace
}  // namespace cohort::config
