#include "proxy/request_scope.hpp"

#include <array>

#include "common/monotonic.hpp"
#include "http/grpc.hpp"
#include "proxy/access_log.hpp"
#include "routing/compiled.hpp"
#include "routing/explain.hpp"

namespace cohort::proxy {

namespace {

void count_decision(worker_context& worker, const published_state& pub,
                    const routing::decision& d) {
  using routing::reason_kind;
  metrics::decision_reason reason;
  switch (d.kind) {
    case reason_kind::cohort:
      reason = metrics::decision_reason::cohort;
      break;
    case reason_kind::pin:
      reason = metrics::decision_reason::pin;
      break;
    case reason_kind::bucket_canary:
    case reason_kind::bucket_stable:
    case reason_kind::baseline:
      reason = metrics::decision_reason::bucket;
      break;
    case reason_kind::anonymous:
      reason = metrics::decision_reason::anonymous;
      break;
    case reason_kind::rolled_back:
      reason = metrics::decision_reason::rollback;
      break;
    case reason_kind::promoted:
      reason = metrics::decision_reason::promoted;
      break;
    default:
      return;  // no rollout applies
  }
  worker.metrics().record_decision(pub.series.decision(d.rollout, d.subset, reason));
}

}  // namespace

void request_scope::begin(worker_context& worker, const published_state& pub,
                          const http::request_head& req, std::string_view client_ip,
                          std::uint64_t head_bytes, metrics::listener_id listener) {
  worker.metrics().request_received(listener, protocol);
  const routing::snapshot& snap = *pub.snapshot;
  start = std::chrono::steady_clock::now();
  bytes_in = head_bytes;
  bytes_out = 0;
  status = 0;
  upstream = {};
  application_error = false;
  const auto& access = snap.source().gateway.access_log;
  logged = access.mode == config::access_log_mode::all ||
           (access.mode == config::access_log_mode::sampled &&
            static_cast<double>(worker.random() >> 11) * 0x1.0p-53 < access.sample_ratio);
  if (logged) {
    method.assign(req.method);
    path.assign(req.path);
  }
  // One pass over the fields for the two every request needs (by length
  // first: most names are rejected without comparing a byte).
  const http::header* content_type = nullptr;
  const http::header* incoming = nullptr;
  for (const auto& h : req.headers) {
    if (h.name.size() == 11 && incoming == nullptr && http::iequals(h.name, "traceparent")) {
      incoming = &h;
    } else if (h.name.size() == 12 && content_type == nullptr &&
               http::iequals(h.name, "content-type")) {
      content_type = &h;
    }
  }
  grpc = content_type != nullptr && http::is_grpc(content_type->value);
  grpc_timeout.reset();
  if (grpc) {
    if (const auto* timeout = req.find("grpc-timeout")) {
      grpc_timeout = http::parse_grpc_timeout(timeout->value);
    }
  }
  trace.start(incoming ? incoming->value : std::string_view{}, worker.random(), worker.random(),
              worker.random());
  const routing::request_view view{req.method, req.path,    req.query,
                                   req.host,   req.headers, client_ip};
  decision = routing::decide(view, snap, worker.random());
  count_decision(worker, pub, decision);
}

upstream_request_options request_scope::upstream_options(const config::proxy_headers_config& added,
                                                         std::string_view client_ip,
                                                         std::string_view proto) const {
  upstream_request_options opts{client_ip, proto, upstream,
                                added.traceparent ? trace.traceparent() : std::string_view{}};
  opts.x_forwarded = added.x_forwarded;
  opts.via = added.via;
  return opts;
}

void request_scope::finish(worker_context& worker, const published_state& pub,
                           std::string& log_line) {
  const auto& d = decision;
  const auto end = std::chrono::steady_clock::now();
  const auto latency = std::chrono::duration_cast<std::chrono::nanoseconds>(end - start);
  metrics::request_sample sample;
  sample.series = pub.series.request(d.route, d.subset);
  // A request failed over from a sick canary counts as an error of the
  // canary's arm, whatever stable answered: the controller must see it.
  sample.arm = pub.series.arm(d.rollout, d.assigned_subset());
  sample.status = static_cast<std::uint16_t>(status);
  sample.error = status >= 500 || status == 0 || d.failover_from >= 0 || application_error;
  sample.latency_ns = static_cast<std::uint64_t>(latency.count());
  sample.bytes_in = bytes_in;
  sample.bytes_out = bytes_out;
  sample.now_s = monotonic_seconds(end);
  worker.metrics().record(sample);
  if (!logged) {
    return;
  }
  const auto& snap = *pub.snapshot;
  std::array<char, 192> reason;
  access_record r;
  r.method = method;
  r.path = path;
  r.route = routing::route_name(snap, d.route);
  r.service = routing::service_name(snap, d.service);
  r.subset = d.service >= 0 ? routing::subset_name(snap, d) : std::string_view{};
  r.reason = {reason.data(), d.format_reason(reason.data(), reason.size())};
  r.upstream = upstream;
  r.trace_id = trace.trace_id();
  r.protocol = protocol == metrics::protocol::http2     ? "HTTP/2"
               : protocol == metrics::protocol::http1_0 ? "HTTP/1.0"
                                                        : "HTTP/1.1";
  r.status = status;
  r.duration_ms = std::chrono::duration<double, std::milli>(end - start).count();
  r.bytes_in = bytes_in;
  r.bytes_out = bytes_out;
  r.has_user_key = d.has_key;
  r.user_key_hash = d.key_hash;
  write_access_log(r, log_line);
}

void request_scope::settle_grpc(worker_context& worker, const published_state& pub,
                                const upstream_exchange& ex) {
  if (!grpc) {
    return;
  }
  const std::uint32_t code = http::grpc_final_status(ex.head(), ex.trailers());
  application_error = http::grpc_status_is_error(code);
  worker.metrics().record_grpc_status(pub.series.upstream(decision.service, decision.subset), code);
}

void count_upstream_failure(worker_context& worker, const published_state& pub,
                            const routing::decision& d, exchange_error err) {
  metrics::upstream_event event;
  switch (err) {
    case exchange_error::connect_refused:
    case exchange_error::connect_failed:
    case exchange_error::connect_timeout:
      event = metrics::upstream_event::connect_failure;
      break;
    case exchange_error::response_timeout:
      event = metrics::upstream_event::timeout;
      break;
    case exchange_error::send_failed:
    case exchange_error::closed_early:
    case exchange_error::bad_response:
    case exchange_error::body_failed:
      event = metrics::upstream_event::reset;
      break;
    default:
      return;
  }
  worker.metrics().record_upstream(pub.series.upstream(d.service, d.subset), event);
}

void count_breaker_overflow(worker_context& worker, const published_state& pub,
                            const routing::decision& d, upstream::breaker_kind kind) {
  metrics::breaker b;
  switch (kind) {
    case upstream::breaker_kind::max_connections:
      b = metrics::breaker::max_connections;
      break;
    case upstream::breaker_kind::max_pending:
      b = metrics::breaker::max_pending;
      break;
    default:
      b = metrics::breaker::max_requests;
  }
  worker.metrics().record_breaker_overflow(pub.series.upstream(d.service, d.subset), b);
}

std::string anonymous_cookie(const routing::snapshot& snap, const routing::decision& d) {
  std::string cookie;
  if (d.new_anonymous_id_len == 0 || d.rollout < 0) {
    return cookie;
  }
  const auto& session = snap.source().rollouts[static_cast<std::size_t>(d.rollout)].session;
  cookie = session.cookie_name;
  cookie += '=';
  cookie += d.new_anonymous_id_view();
  cookie += "; Path=/; Max-Age=";
  cookie += std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(session.cookie_max_age).count());
  cookie += "; HttpOnly; SameSite=Lax";
  return cookie;
}

}  // namespace cohort::proxy
