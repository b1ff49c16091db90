#include "metrics/exposition.hpp"

#include <charconv>
#include <cmath>
#include <initializer_list>

#include "metrics/le_ladder.hpp"

namespace cohort::metrics {

void append_label_value(std::string& out, std::string_view value) {
  for (const char ch : value) {
    switch (ch) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out.push_back(ch);
    }
  }
}

void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

namespace {

using label = std::pair<std::string_view, std::string_view>;

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out.push_back(' ');
  out += help;  // our own constant text: no backslash or newline to escape
  out += "\n# TYPE ";
  out += name;
  out.push_back(' ');
  out += type;
  out.push_back('\n');
}

void sample_head(std::string& out, std::string_view name, std::initializer_list<label> labels,
                 std::string_view le = {}) {
  out += name;
  if (labels.size() != 0 || !le.empty()) {
    out.push_back('{');
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) {
        out.push_back(',');
      }
      first = false;
      out += k;
      out += "=\"";
      append_label_value(out, v);
      out.push_back('"');
    }
    if (!le.empty()) {
      out += first ? "le=\"" : ",le=\"";
      out += le;
      out.push_back('"');
    }
    out.push_back('}');
  }
  out.push_back(' ');
}

void sample(std::string& out, std::string_view name, std::initializer_list<label> labels,
            std::uint64_t v) {
  sample_head(out, name, labels);
  out += std::to_string(v);
  out.push_back('\n');
}

void sample(std::string& out, std::string_view name, std::initializer_list<label> labels,
            double v) {
  sample_head(out, name, labels);
  append_double(out, v);
  out.push_back('\n');
}

void render_requests(std::string& out, const collected& c) {
  family(out, "cohort_requests_total", "counter",
         "Requests answered, by route, service, subset and status code.");
  for (const auto& s : c.requests) {
    for (const auto& [code, count] : s.codes) {
      const std::string code_text = std::to_string(code);
      sample(
          out, "cohort_requests_total",
          {{"route", s.route}, {"service", s.service}, {"subset", s.subset}, {"code", code_text}},
          count);
    }
    if (s.other_codes != 0) {
      sample(out, "cohort_requests_total",
             {{"route", s.route}, {"service", s.service}, {"subset", s.subset}, {"code", "other"}},
             s.other_codes);
    }
  }

  // The le texts are the same for every series: format them once.
  std::array<std::string, le_count> le_text;
  for (std::size_t k = 0; k < le_count; ++k) {
    le_text[k] = seconds_text(le_bound_ns(k));
  }
  std::array<std::uint64_t, le_count> cumulative{};
  family(out, "cohort_request_duration_seconds", "histogram",
         "Time from the request's first byte to the response's last byte.");
  for (const auto& s : c.requests) {
    const std::initializer_list<label> labels = {
        {"route", s.route}, {"service", s.service}, {"subset", s.subset}};
    cumulative_le_counts(s.latency, cumulative);
    for (std::size_t k = 0; k < le_count; ++k) {
      sample_head(out, "cohort_request_duration_seconds_bucket", labels, le_text[k]);
      out += std::to_string(cumulative[k]);
      out.push_back('\n');
    }
    sample_head(out, "cohort_request_duration_seconds_bucket", labels, "+Inf");
    out += std::to_string(s.latency.count());
    out.push_back('\n');
    sample(out, "cohort_request_duration_seconds_sum", labels, s.latency.sum_seconds());
    sample(out, "cohort_request_duration_seconds_count", labels, s.latency.count());
  }

  family(out, "cohort_request_bytes_total", "counter",
         "Bytes received from clients (request line, headers and body).");
  for (const auto& s : c.requests) {
    sample(out, "cohort_request_bytes_total",
           {{"route", s.route}, {"service", s.service}, {"subset", s.subset}}, s.bytes_in);
  }
  family(out, "cohort_response_bytes_total", "counter",
         "Bytes sent to clients (status line, headers and body).");
  for (const auto& s : c.requests) {
    sample(out, "cohort_response_bytes_total",
           {{"route", s.route}, {"service", s.service}, {"subset", s.subset}}, s.bytes_out);
  }
}

void render_upstreams(std::string& out, const collected& c) {
  struct field {
    std::string_view name;
    std::string_view help;
    std::uint64_t collected::upstream_series::*value;
  };
  const field fields[] = {
      {"cohort_upstream_connect_failures_total", "Upstream connections that could not be opened.",
       &collected::upstream_series::connect_failures},
      {"cohort_upstream_timeouts_total", "Upstream exchanges that ran out of time.",
       &collected::upstream_series::timeouts},
      {"cohort_upstream_resets_total", "Upstream connections reset or closed mid-exchange.",
       &collected::upstream_series::resets},
  };
  for (const auto& f : fields) {
    family(out, f.name, "counter", f.help);
    for (const auto& s : c.upstreams) {
      sample(out, f.name, {{"service", s.service}, {"subset", s.subset}}, s.*(f.value));
    }
  }
  constexpr std::string_view overflows = "cohort_circuit_breaker_overflows_total";
  family(out, overflows, "counter",
         "Requests refused at once because a circuit breaker of the subset was open.");
  for (const auto& s : c.upstreams) {
    for (std::size_t b = 0; b < breaker_count; ++b) {
      sample(out, overflows,
             {{"service", s.service},
              {"subset", s.subset},
              {"breaker", label_of(static_cast<breaker>(b))}},
             s.breaker_overflows[b]);
    }
  }
  family(out, "cohort_tunnels_open", "gauge",
         "WebSocket tunnels open now, by the subset they were routed to.");
  for (const auto& s : c.upstreams) {
    sample(out, "cohort_tunnels_open", {{"service", s.service}, {"subset", s.subset}},
           s.tunnels_open);
  }
  // Only codes seen: seventeen zero series per subset would drown the page.
  constexpr std::string_view grpc = "cohort_grpc_responses_total";
  family(out, grpc, "counter", "gRPC answers relayed, by grpc-status.");
  for (const auto& s : c.upstreams) {
    for (std::size_t g = 0; g < grpc_status_count; ++g) {
      if (s.grpc_statuses[g] == 0) {
        continue;
      }
      sample(out, grpc,
             {{"service", s.service}, {"subset", s.subset}, {"grpc_status", std::to_string(g)}},
             s.grpc_statuses[g]);
    }
  }
  constexpr std::string_view limited = "cohort_rate_limited_total";
  family(out, limited, "counter", "Requests refused because the subset's rate limit was spent.");
  for (const auto& s : c.upstreams) {
    sample(out, limited, {{"service", s.service}, {"subset", s.subset}}, s.rate_limited);
  }
  constexpr std::string_view failovers = "cohort_failovers_total";
  family(out, failovers, "counter",
         "Requests of a canary or baseline subset served by the rollout's stable subset.");
  for (const auto& s : c.failovers) {
    sample(out, failovers, {{"service", s.service}, {"from", s.from}, {"to", s.to}}, s.count);
  }
}

void render_listeners(std::string& out, const collected& c) {
  family(out, "cohort_downstream_connections", "gauge", "Client connections open now.");
  for (const auto& s : c.listeners) {
    sample(out, "cohort_downstream_connections", {{"listener", s.listener}}, s.open);
  }
  family(out, "cohort_downstream_connections_accepted_total", "counter",
         "Client connections accepted.");
  for (const auto& s : c.listeners) {
    sample(out, "cohort_downstream_connections_accepted_total", {{"listener", s.listener}},
           s.accepted);
  }
  family(out, "cohort_tls_handshake_failures_total", "counter",
         "Client TLS handshakes that failed or timed out.");
  for (const auto& s : c.listeners) {
    sample(out, "cohort_tls_handshake_failures_total", {{"listener", s.listener}},
           s.tls_handshake_failures);
  }
  family(out, "cohort_downstream_requests_total", "counter",
         "Requests received from clients, by protocol.");
  for (const auto& s : c.listeners) {
    for (std::size_t p = 0; p < protocol_count; ++p) {
      sample(out, "cohort_downstream_requests_total",
             {{"listener", s.listener}, {"protocol", label_of(static_cast<protocol>(p))}},
             s.requests[p]);
    }
  }
}

void render_decisions(std::string& out, const collected& c) {
  family(out, "cohort_decisions_total", "counter",
         "Routing decisions of a rollout, by subset chosen and reason.");
  for (const auto& s : c.decisions) {
    sample(out, "cohort_decisions_total",
           {{"rollout", s.rollout}, {"subset", s.subset}, {"reason", s.reason}}, s.count);
  }
}

void render_server(std::string& out, const server_metrics& m) {
  family(out, "cohort_rollout_weight_ratio", "gauge",
         "Target share of users (0..1) of each subset of a rollout.");
  for (const auto& r : m.rollouts) {
    for (const auto& [subset, share] : r.weight_ratio) {
      sample(out, "cohort_rollout_weight_ratio", {{"rollout", r.name}, {"subset", subset}}, share);
    }
  }
  family(out, "cohort_rollout_phase", "gauge",
         "1 for the rollout's current phase, 0 for the others.");
  for (const auto& r : m.rollouts) {
    for (const auto phase : rollout_phases) {
      sample(out, "cohort_rollout_phase", {{"rollout", r.name}, {"phase", phase}},
             std::uint64_t{phase == r.phase ? 1u : 0u});
    }
  }
  family(out, "cohort_rollout_step", "gauge", "Index of the rollout's current step.");
  for (const auto& r : m.rollouts) {
    sample(out, "cohort_rollout_step", {{"rollout", r.name}}, static_cast<double>(r.step));
  }
  family(out, "cohort_analysis_checks_total", "counter",
         "Analysis checks of a rollout, by metric and result (pass, fail, nodata).");
  for (const auto& a : m.analysis_checks) {
    sample(out, "cohort_analysis_checks_total",
           {{"rollout", a.rollout}, {"metric", a.metric}, {"result", a.result}}, a.count);
  }
  family(out, "cohort_upstream_endpoint_healthy", "gauge",
         "1 while the endpoint passes its active health checks, 0 once it failed them.");
  for (const auto& e : m.endpoints) {
    sample(out, "cohort_upstream_endpoint_healthy",
           {{"service", e.service}, {"subset", e.subset}, {"endpoint", e.endpoint}},
           std::uint64_t{e.healthy ? 1u : 0u});
  }
  family(out, "cohort_config_reloads_total", "counter",
         "Configuration reloads, by result (ok, rejected).");
  sample(out, "cohort_config_reloads_total", {{"result", "ok"}}, m.reloads_ok);
  sample(out, "cohort_config_reloads_total", {{"result", "rejected"}}, m.reloads_rejected);
  family(out, "cohort_store_write_failures_total", "counter",
         "Rollout state writes the state store refused; a rollback is applied anyway and retried.");
  sample(out, "cohort_store_write_failures_total", {}, m.store_write_failures);
}

}  // namespace

std::string render_prometheus(const collected& c, const server_metrics& server) {
  std::string out;
  out.reserve(4096 + c.requests.size() * (le_count + 8) * 96);
  render_requests(out, c);
  render_upstreams(out, c);
  render_listeners(out, c);
  render_decisions(out, c);
  render_server(out, server);
  family(out, "cohort_metrics_series_refused_total", "counter",
         "Label sets the metrics registry had no room for (recorded nowhere).");
  sample(out, "cohort_metrics_series_refused_total", {}, c.refused_series);
  return out;
}

}  // namespace cohort::metrics
