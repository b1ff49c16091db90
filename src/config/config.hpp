#pragma once
// The typed configuration: what cohort.yaml says, after parsing and validation.
// Every object remembers where it was written, so later checks (and the
// controller) can name the place in their messages.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/units.hpp"

namespace cohort::config {

using namespace std::chrono_literals;

struct source_location {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based
};

// One problem in a configuration: printed as "file:line:column: message".
struct diagnostic {
  source_location where;
  std::string message;
  std::string to_string() const;
};

// ---------------------------------------------------------------- gateway
// A PEM certificate chain (leaf first) and its private key, as file paths
// (relative paths are taken from the working directory, like token_file).
struct tls_certificate_config {
  std::string certificate;
  std::string private_key;
  source_location where;
};

// Only these two are ever allowed; older versions are refused at the handshake.
enum class tls_version { v1_2, v1_3 };

// TLS termination on a listener. The top-level pair is the default
// certificate; `certificates` are chosen by SNI (a certificate serves the
// names of its subjectAltName DNS / IP entries).
struct tls_config {
  std::string certificate;
  std::string private_key;
  std::vector<tls_certificate_config> certificates;
  // Application protocols offered by ALPN, in preference order; the gateway
  // answers with the first one it serves that the client offered.
  std::vector<std::string> alpn{"h2", "http/1.1"};
  tls_version min_version = tls_version::v1_2;
  source_location where;
};

struct listener_config {
  std::string name;
  host_port address;
  std::optional<tls_config> tls;
  source_location where;
};

struct limits_config {
  std::uint64_t max_header_bytes = 65536;  // request line + headers -> 431 above
  std::uint32_t max_headers = 100;         // header count -> 431 above
  std::uint64_t max_body_bytes = 0;        // 0: unlimited (bodies are streamed) -> 413 above
  duration header_timeout = 10s;           // first byte to end of head -> 408
  duration idle_timeout = 60s;             // keep-alive idle, and any stalled body read/write
  duration drain_timeout = 15s;            // SIGTERM: in-flight requests get this long
};

enum class access_log_mode { off, sampled, all };

struct access_log_config {
  access_log_mode mode = access_log_mode::off;
  double sample_ratio = 0.01;  // with mode sampled: "1%"
};

// WebSocket tunnels (HTTP/1.1 Upgrade), after the upstream's 101.
struct websocket_config {
  duration idle_timeout = 10min;  // no byte either way for this long: the tunnel is closed
  // A tunnel whose user a rollback moves to stable is closed this long after
  // the rollback is published (0: at once).
  duration rollback_grace = 5s;
};

// HTTP/2 downstream limits, announced in the server's SETTINGS.
struct http2_config {
  std::uint32_t max_concurrent_streams = 100;   // per connection; more are refused
  std::uint32_t initial_window_size = 1 << 20;  // per stream: request bytes buffered at most
  std::uint32_t max_header_list_size = 65536;   // decoded header bytes per request -> 431 above
};

// The fields the gateway adds to what it forwards. All on by default; a
// deployment whose load balancer in front already sets them, or whose
// backends must not see them, turns them off.
struct proxy_headers_config {
  bool x_forwarded = true;  // X-Forwarded-For (client address appended) and X-Forwarded-Proto
  bool via = true;          // Via on forwarded requests and on responses
  bool traceparent = true;  // a W3C traceparent naming the gateway's span
};

struct gateway_config {
  std::vector<listener_config> listeners;
  unsigned workers = 0;         // 0: auto, one per core
  std::string decision_header;  // empty: off
  limits_config limits;
  access_log_config access_log;
  websocket_config websocket;
  http2_config http2;
  proxy_headers_config proxy_headers;
};

struct admin_config {
  host_port address{"127.0.0.1", 9901};
  std::string token_file;  // empty: none (then the address must be loopback)
  source_location where;
};

struct state_config {
  std::string store = "sqlite:cohort-state.db";  // or etcd://host:port/prefix
  source_location where;
};

// ---------------------------------------------------------------- services
enum class lb_policy { least_request, round_robin };

// A token bucket over one subset's requests, shared by all workers (exact
// process-wide): requests_per_second refill, burst the bucket's size.
struct rate_limit_config {
  double requests_per_second = 0;
  std::uint32_t burst = 1;
  source_location where;
};

struct subset_config {
  std::string name;
  std::vector<host_port> endpoints;
  source_location where;
  std::optional<rate_limit_config> rate_limit = std::nullopt;  // nullopt: unlimited
};

// An inclusive range of status codes a health check accepts ("200-399", "204").
struct status_range {
  std::uint16_t low = 200;
  std::uint16_t high = 399;
};

// Active health checks of every endpoint of every subset of a service: a GET
// of path each interval; unhealthy_threshold failures in a row take an
// endpoint out of rotation, healthy_threshold successes in a row bring it back.
// Endpoints start healthy (a restart never fails everyone over).
struct health_check_config {
  std::string path = "/healthz";
  duration interval = 5s;
  duration timeout = 1s;
  std::uint32_t healthy_threshold = 2;
  std::uint32_t unhealthy_threshold = 3;
  std::vector<status_range> expected_statuses{status_range{}};
  source_location where;
};

// Where the users of a sick canary (or baseline) subset go: the rollout's
// stable subset, or nowhere (they get the canary's errors).
enum class failover_mode { stable, none };

// The protocol the gateway speaks to a service's endpoints. http2 is h2c with
// prior knowledge on plain TCP (ALPN "h2" over TLS), many requests multiplexed
// on few connections; gRPC services need it.
enum class upstream_protocol { http1, http2 };

// Passive outlier detection: an endpoint that fails this many times in a row
// (5xx, gateway errors, connect failures) leaves the pick for
// base_ejection x (number of times it was ejected).
struct outlier_config {
  bool enabled = false;
  std::uint32_t consecutive_errors = 5;
  duration base_ejection = 10s;
  basis_points max_ejection = full_share;  // of a subset's endpoints at once
  source_location where;
};

// Replays of a request that got no response byte (connect failures always;
// otherwise idempotent requests without a body): once on another endpoint of
// the same subset, then on the rollout's stable subset when to_stable.
struct retry_config {
  bool enabled = true;
  bool to_stable = true;
  basis_points budget = 2000;         // retries in flight, as a share of active requests
  std::uint32_t min_concurrency = 3;  // retries always allowed in flight, whatever the budget
  source_location where;
};

// Limits on one subset's upstream traffic, each enforced per worker as
// ceil(limit / workers) so the request path shares nothing between threads.
// Past a limit a request is answered 503 at once (or fails over to stable),
// never queued. nullopt: unlimited.
struct circuit_breaker_config {
  std::optional<std::uint32_t> max_connections;  // open upstream connections (idle + busy)
  std::optional<std::uint32_t> max_pending;      // requests waiting for a connect
  std::optional<std::uint32_t> max_requests;     // requests in flight
  source_location where;
};

// TLS towards a service's endpoints (one setting for all its subsets).
struct upstream_tls_config {
  std::string ca_file;      // verify against these CAs; empty: the system store
  std::string certificate;  // client certificate chain for mTLS (with private_key), or empty
  std::string private_key;
  std::string server_name;  // SNI and the name verified; empty: the endpoint's host
  bool verify = true;       // false: accept any certificate (tests only)
  source_location where;
};

struct service_config {
  std::string name;
  std::vector<subset_config> subsets;
  duration connect_timeout = 1s;
  duration request_timeout = 15s;  // the whole budget: request sent -> response head received
  std::optional<duration> per_try_timeout;  // one attempt's share of it (nullopt: all of it)
  lb_policy lb = lb_policy::least_request;
  upstream_protocol protocol = upstream_protocol::http1;
  failover_mode failover = failover_mode::stable;
  outlier_config outlier_detection;
  retry_config retries;
  circuit_breaker_config circuit_breakers;          // applies to each subset
  std::optional<health_check_config> health_check;  // nullopt: no active checks
  std::optional<upstream_tls_config> tls;           // nullopt: plain TCP
  source_location where;
};

// ---------------------------------------------------------------- matching
enum class match_kind { exact, prefix, suffix, regex, present, absent, semver };

// A test on one named value of a request: a header, a cookie or a query parameter.
struct field_match {
  std::string name;  // header names compare case-insensitively
  match_kind kind = match_kind::present;
  std::string value;    // unused for present/absent; an RE2 pattern for regex;
                        // a range such as "<5.2.0" or ">=5.2.0 <6" for semver
  bool invert = false;  // negate the result
  source_location where;
};

// Every listed condition must hold (AND); an empty match matches everything.
struct request_match {
  std::string host;  // exact, case-insensitive, port ignored; "*.example.com" for a suffix
  std::optional<std::string> path_exact;
  std::optional<std::string> path_prefix;
  std::optional<std::string> path_regex;  // RE2, full match against the path
  std::vector<std::string> methods;       // any of
  std::vector<field_match> headers;
  std::vector<field_match> cookies;
  std::vector<field_match> query;
  std::vector<std::string> users;  // user keys (cohorts only)
  source_location where;
};

struct route_config {
  std::string name;
  request_match match;
  std::string service;
  source_location where;
};

// ---------------------------------------------------------------- rollouts
enum class key_source_kind { header, cookie, jwt_claim, query, client_ip };

struct key_source {
  key_source_kind kind = key_source_kind::header;
  std::string name;  // header / cookie / claim / parameter name; empty for client_ip
  source_location where;
};

enum class anonymous_policy { cookie, random, stable };

struct session_config {
  std::vector<key_source> key;
  anonymous_policy anonymous = anonymous_policy::cookie;
  std::string cookie_name = "cohort_uid";
  duration cookie_max_age = std::chrono::hours(24 * 365);
};

enum class pin_target { none, canary, stable };

struct cohort_config {
  std::string name;
  request_match match;
  pin_target pin = pin_target::none;  // none: joins the canary when a step adds it
  source_location where;
};

enum class step_kind { cohort, weight, pause };

struct step_config {
  step_kind kind = step_kind::weight;
  std::string cohort;             // step_kind::cohort
  basis_points weight = 0;        // step_kind::weight
  std::optional<duration> pause;  // step_kind::pause; nullopt = manual
  source_location where;
};

struct prometheus_query {
  std::string address;  // http://127.0.0.1:9090
  std::string query;    // PromQL, must yield one float
};

// A threshold check. Values are in the metric's unit: a ratio 0..1 for
// success-rate / error-rate ("99%" -> 0.99), seconds for latency-* ("500ms" ->
// 0.5), a count for requests, the raw value for prometheus metrics.
// A built-in metric measured as a share of requests (0..1): success-rate,
// request-success-rate, error-rate, the 2xx/4xx/5xx rates and increases.
bool is_share_metric(std::string_view name);
// A built-in metric that is the canary's share minus the control arm's.
bool is_comparative_metric(std::string_view name);

struct metric_check {
  // success-rate (non-5xx share), request-success-rate (the same; Flagger's
  // name, its threshold written as a percentage), error-rate (5xx share),
  // 2xx-rate, 4xx-rate, 5xx-rate, 4xx-increase and 5xx-increase (the canary's
  // share minus the control arm's), latency-p50|p90|p99|p999, requests, or any
  // name with prometheus
  std::string name;
  std::optional<double> min;
  std::optional<double> max;
  std::optional<prometheus_query> prometheus;
  source_location where;
};

struct judge_config {
  std::string method = "mann-whitney";
  double pass = 95;      // score >= pass: pass
  double marginal = 75;  // marginal <= score < pass: marginal; below: fail
  double confidence = 0.98;
  source_location where;
};

struct sequential_config {
  double alpha = 0.01;
  double tolerance =
      0.0;  // canary may be this much worse (relative) without counting as a regression
  // Practical significance: a latency regression counts only beyond
  // baseline x (1 + tolerance) + floor (fast backends differ by noise alone).
  duration floor{1};
  bool client_errors = true;  // 4xx is tested as a second kind of error
  source_location where;
};

struct analysis_config {
  duration interval = 15s;
  std::uint32_t threshold = 5;        // failed checks before rollback
  std::uint64_t min_requests = 1000;  // canary requests per step before it may advance
  duration no_data_deadline = 10min;  // a step without traffic holds this long, then fails
  std::vector<metric_check> metrics;
  std::optional<judge_config> judge;
  std::optional<sequential_config> sequential;
};

enum class webhook_type {
  confirm_rollout,
  pre_rollout,
  rollout,
  confirm_promotion,
  post_rollout,
  rollback,
  event
};

struct webhook_config {
  webhook_type type = webhook_type::event;
  std::string name;  // defaults to the type's name
  std::string url;
  duration timeout = 5s;
  source_location where;
};

enum class promotion_mode { automatic, manual };

struct rollout_config {
  std::string name;
  std::string service;
  std::string stable = "stable";  // subset names of the service
  std::string canary = "canary";
  std::string baseline;  // empty: no baseline
  std::string revision;  // a change restarts the rollout from step 0
  std::string salt;      // empty: the bucket seed is XXH3_64bits(name)
  session_config session;
  std::vector<cohort_config> cohorts;
  basis_points weight = 0;  // starting share when there are no steps
  std::vector<step_config> steps;
  analysis_config analysis;
  std::vector<webhook_config> webhooks;
  promotion_mode promotion = promotion_mode::automatic;
  source_location where;
};

// ---------------------------------------------------------------- the file
struct config {
  std::string source_file;
  gateway_config gateway;
  admin_config admin;
  state_config state;
  std::vector<service_config> services;
  std::vector<route_config> routes;
  std::vector<rollout_config> rollouts;
};

}  // namespace cohort::config
