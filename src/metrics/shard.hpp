#pragma once
// One worker's recorder. Only its worker thread calls the record functions:
// no lock, no allocation, no string hashing, no read-modify-write atomics.
// Ids come from the series_table of the snapshot the request used; an id the
// registry refused (no_series) is ignored.

#include <cstdint>

#include "metrics/cells.hpp"
#include "metrics/series_table.hpp"

namespace cohort::metrics {

// Everything the gateway knows when a response is finished.
struct request_sample {
  series_id series = no_series;  // table.request(route, subset)
  series_id arm = no_series;     // table.arm(rollout, subset): feeds the controller's windows
  std::uint16_t status = 0;
  // The caller's verdict on the exchange (5xx, an upstream failure; gRPC status later).
  bool error = false;
  std::uint64_t latency_ns = 0;
  std::uint64_t bytes_in = 0;   // from the client
  std::uint64_t bytes_out = 0;  // to the client
  std::uint64_t now_s = 0;      // the second the response finished, on the caller's clock
};

using listener_id = std::uint32_t;

class alignas(64) shard {
 public:
  shard() = default;
  shard(const shard&) = delete;
  shard& operator=(const shard&) = delete;

  void record(const request_sample& s) {
    record_request(s.series, s.status, s.latency_ns, s.bytes_in, s.bytes_out);
    record_window(s.arm, s.now_s, s.status, s.latency_ns, s.error);
  }

  // cohort_requests_total, cohort_request_duration_seconds, bytes in/out.
  void record_request(series_id id, std::uint16_t status, std::uint64_t latency_ns,
                      std::uint64_t bytes_in, std::uint64_t bytes_out);

  // The controller's one-second slots of a (rollout, subset).
  void record_window(series_id arm, std::uint64_t now_s, std::uint16_t status,
                     std::uint64_t latency_ns, bool error);

  void record_decision(series_id id) {
    if (decision_cell* c = decisions_.find(id)) {
      bump(c->count);
    }
  }

  void record_upstream(series_id id, upstream_event e);
  // A request refused by an open circuit breaker of the series' subset.
  void record_breaker_overflow(series_id id, breaker b);
  // A request refused by the subset's rate limit (cohort_rate_limited_total).
  void record_rate_limited(series_id id) {
    if (upstream_cell* c = upstreams_.find(id)) {
      bump(c->rate_limited);
    }
  }
  // A request failed over to stable (id: series_table::failover).
  void record_failover(series_id id) {
    if (failover_cell* c = failovers_.find(id)) {
      bump(c->count);
    }
  }

  // cohort_tunnels_open{service,subset}: a tunnel counts from its 101 to its
  // close, under the series (table.upstream) it opened with.
  void tunnel_opened(series_id id) {
    if (upstream_cell* c = upstreams_.find(id)) {
      bump(c->tunnels_opened);
    }
  }
  void tunnel_closed(series_id id) {
    if (upstream_cell* c = upstreams_.find(id)) {
      bump(c->tunnels_closed);
    }
  }

  // cohort_downstream_connections is opened - closed summed over workers, so a
  // connection may close on another worker than the one that accepted it.
  void connection_opened(listener_id id) {
    if (listener_cell* c = listeners_.find(id)) {
      bump(c->opened);
    }
  }
  void request_received(listener_id id, protocol p) {
    if (listener_cell* c = listeners_.find(id)) {
      bump(c->requests[static_cast<std::size_t>(p)]);
    }
  }
  // A gRPC answer's grpc-status (codes above 16 are not counted).
  void record_grpc_status(series_id id, unsigned code);
  void connection_closed(listener_id id) {
    if (listener_cell* c = listeners_.find(id)) {
      bump(c->closed);
    }
  }
  // A TLS handshake that failed or timed out (the connection never served a request).
  void tls_handshake_failed(listener_id id) {
    if (listener_cell* c = listeners_.find(id)) {
      bump(c->tls_handshake_failures);
    }
  }

 private:
  friend class registry;

  request_cells requests_;
  upstream_cells upstreams_;
  listener_cells listeners_;
  decision_cells decisions_;
  failover_cells failovers_;
  arm_cells arms_;
};

}  // namespace cohort::metrics
