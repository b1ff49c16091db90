#pragma once
// The accounting of one request, whatever protocol carried it: when it
// started, how it was routed, how it ended. Sessions (HTTP/1.1 connections,
// HTTP/2 streams) fill it in; finish() records it once in the worker's
// metrics (and the controller's windows) and writes the access log line.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/message.hpp"
#include "proxy/snapshot_registry.hpp"
#include "proxy/trace_context.hpp"
#include "proxy/upstream_exchange.hpp"
#include "proxy/worker_context.hpp"
#include "routing/decision.hpp"

namespace cohort::proxy {

struct request_scope {
  std::chrono::steady_clock::time_point start;
  routing::decision decision;
  unsigned status = 0;  // 0: no answer was sent
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::string_view upstream;  // endpoint key, owned by the worker's pool
  metrics::protocol protocol = metrics::protocol::http1_1;  // set by the session before begin()
  // The upstream answered but the answer is a failure the status does not
  // show (a gRPC error status with HTTP 200): an error for the analysis.
  bool application_error = false;
  bool grpc = false;                     // a gRPC call (content-type application/grpc...)
  std::optional<duration> grpc_timeout;  // its grpc-timeout, when valid
  trace_context trace;
  bool logged = false;
  std::string method;  // copied only when the request is logged
  std::string path;

  // Starts the request: clock, access-log sampling, trace context, and the
  // routing decision (counted), the request counted on its listener. pub
  // must be the worker's current publication.
  void begin(worker_context& worker, const published_state& pub, const http::request_head& req,
             std::string_view client_ip, std::uint64_t head_bytes, metrics::listener_id listener);

  // A gRPC call whose response is complete (call before the exchange's
  // finish()): its grpc-status is counted, and a status that fails the
  // version (UNAVAILABLE, INTERNAL, UNKNOWN, DEADLINE_EXCEEDED) makes the
  // request an error for the analysis, whatever its HTTP status.
  void settle_grpc(worker_context& worker, const published_state& pub, const upstream_exchange& ex);

  // How the request's head is written upstream: the client's address and the
  // listener's scheme, the fields the gateway adds as gateway.proxy_headers
  // says, this request's traceparent and the endpoint chosen (set upstream first).
  upstream_request_options upstream_options(const config::proxy_headers_config& added,
                                            std::string_view client_ip,
                                            std::string_view proto) const;

  // Records the ended request in the worker's metrics and the access log.
  void finish(worker_context& worker, const published_state& pub, std::string& log_line);
};

// An upstream failure of an exchange, by kind, in the worker's metrics.
void count_upstream_failure(worker_context& worker, const published_state& pub,
                            const routing::decision& d, exchange_error err);

// A request refused by an open circuit breaker of the decided subset.
void count_breaker_overflow(worker_context& worker, const published_state& pub,
                            const routing::decision& d, upstream::breaker_kind kind);

// The Set-Cookie value that gives a new anonymous user its id, or "" when
// the decision drew none.
std::string anonymous_cookie(const routing::snapshot& snap, const routing::decision& d);

}  // namespace cohort::proxy
