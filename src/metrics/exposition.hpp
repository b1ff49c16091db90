#pragma once
// Prometheus text exposition (format 0.0.4) of the gateway's metrics: the
// merged shards plus the gauges and counters the server owns (rollout state,
// analysis checks, config reloads), handed in as plain values at render time.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/registry.hpp"

namespace cohort::metrics {

inline constexpr std::array<std::string_view, 8> rollout_phases = {
    "Initialized", "Progressing", "Paused",      "WaitingPromotion",
    "Promoting",   "Succeeded",   "RollingBack", "Failed"};

struct rollout_view {
  std::string name;
  std::string phase;  // one of rollout_phases: that one is 1, the others 0
  std::int64_t step = 0;
  // Target share (0..1) per subset, e.g. {{"stable", 0.9}, {"baseline", 0.05}, {"canary", 0.05}}.
  std::vector<std::pair<std::string, double>> weight_ratio;
};

struct analysis_check_count {
  std::string rollout;
  std::string metric;
  std::string result;  // pass | fail | nodata
  std::uint64_t count = 0;
};

// An endpoint's active health check verdict (cohort_upstream_endpoint_healthy).
struct endpoint_health_gauge {
  std::string service;
  std::string subset;
  std::string endpoint;
  bool healthy = true;
};

struct server_metrics {
  std::vector<rollout_view> rollouts;
  std::vector<analysis_check_count> analysis_checks;
  std::uint64_t reloads_ok = 0;
  std::uint64_t reloads_rejected = 0;
  std::uint64_t store_write_failures = 0;        // rollout state writes that failed (then retried)
  std::vector<endpoint_health_gauge> endpoints;  // checked endpoints only
};

// The content type to answer GET /metrics with.
inline constexpr std::string_view exposition_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

std::string render_prometheus(const collected& c, const server_metrics& server);

// A label value with \, " and newline escaped, as the text format requires.
void append_label_value(std::string& out, std::string_view value);
// Shortest text that reads back as the same double; NaN, +Inf, -Inf spelled as Prometheus does.
void append_double(std::string& out, double v);

}  // namespace cohort::metrics
