#include "proxy/h1_session.hpp"

#include <array>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <optional>

#include "common/monotonic.hpp"
#include "http/chunked.hpp"
#include "http/parser.hpp"
#include "net/flat_buffer.hpp"
#include "net/watchdog.hpp"
#include "proxy/access_log.hpp"
#include "proxy/forward_head.hpp"
#include "proxy/trace_context.hpp"
#include "proxy/upstream_exchange.hpp"
#include "routing/compiled.hpp"
#include "routing/decision.hpp"
#include "routing/explain.hpp"

namespace cohort::proxy {

namespace asio = net::asio;
using net::awaitable;
using net::deadline_kind;
using net::error_code;
using net::use_nothrow;

namespace {

constexpr std::size_t read_chunk = 16384;
constexpr std::string_view continue_100 = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view crlf = "\r\n";

enum class head_outcome { ok, closed, parse_error, timeout };
enum class send_outcome { ok, client_failed, upstream_failed, bad_body, too_large };

class h1_session final : public drainable {
 public:
  h1_session(net::duplex stream, worker_context& worker, const listener_info& listener)
      : client_(std::move(stream)),
        worker_(worker),
        listener_(listener),
        dog_(worker.io()),
        in_(&worker.blocks()) {
    exchange_storage_.in.set_pool(&worker.blocks());
    error_code ec;
    const auto peer = client_.socket().remote_endpoint(ec);
    client_ip_ = ec ? std::string("unknown") : peer.address().to_string();
    client_.socket().set_option(net::tcp::no_delay(true), ec);
    worker_.add_connection(this);
    worker_.metrics().connection_opened(listener_.metrics_id);
  }
  ~h1_session() override {
    worker_.metrics().connection_closed(listener_.metrics_id);
    worker_.remove_connection(this);
  }

  awaitable<void> run() {
    using namespace asio::experimental::awaitable_operators;
    co_await (serve() && dog_.run([this] { cancel_all(); }));
  }

  void on_drain() override {
    if (idle_) {
      client_.cancel();
    }
  }

 private:
  void cancel_all() {
    client_.cancel();
    if (exchange_ != nullptr && exchange_->stream() != nullptr) {
      exchange_->stream()->cancel();
    }
  }

  const config::limits_config& limits() { return worker_.snapshot()->source().gateway.limits; }

  awaitable<void> serve() {
    for (;;) {
      http::parse_result pr;
      const auto outcome = co_await read_head(pr);
      idle_ = false;
      if (outcome == head_outcome::closed) {
        break;
      }
      if (outcome == head_outcome::timeout) {
        co_await reject(408, "cohort: request head not received within the header timeout\n");
        break;
      }
      if (outcome == head_outcome::parse_error) {
        std::string body = "cohort: ";
        body += http::to_string(pr.error);
        body += '\n';
        co_await reject(http::status_for(pr.error), body);
        break;
      }
      if (!co_await handle_request(pr.consumed)) {
        break;
      }
    }
    client_.close();
    dog_.stop();
  }

  awaitable<head_outcome> read_head(http::parse_result& pr) {
    const auto& lim = limits();
    const http::parse_limits parse_limits{lim.max_header_bytes, lim.max_headers};
    idle_ = in_.empty();
    if (in_.empty()) {
      dog_.arm(lim.idle_timeout, deadline_kind::idle);
    } else {
      dog_.arm(lim.header_timeout, deadline_kind::header);
    }
    for (;;) {
      if (!in_.empty()) {
        pr = http::parse_request_head(in_.readable(), parse_limits, req_);
        if (pr.status == http::parse_status::complete) {
          co_return head_outcome::ok;
        }
        if (pr.status == http::parse_status::error) {
          co_return head_outcome::parse_error;
        }
      } else {
        if (worker_.draining()) {
          co_return head_outcome::closed;
        }
        // Idle between requests: hold no buffer while waiting for the next one.
        exchange_storage_.in.release();
        if (client_.can_wait_idle()) {
          in_.release();
          const auto [wec] = co_await client_.wait_readable();
          if (wec) {
            co_return head_outcome::closed;
          }
        }
      }
      char* p = in_.prepare(read_chunk, lim.max_header_bytes + read_chunk);
      if (in_.writable() == 0) {
        pr.error = http::parse_error::head_too_large;
        co_return head_outcome::parse_error;
      }
      const auto [ec, n] = co_await client_.read_some(asio::buffer(p, in_.writable()));
      if (ec || n == 0) {
        if (dog_.expired() == deadline_kind::header) {
          co_return head_outcome::timeout;
        }
        co_return head_outcome::closed;
      }
      if (in_.empty()) {
        idle_ = false;
        dog_.arm(lim.header_timeout, deadline_kind::header);
      }
      in_.commit(n);
      bytes_read_ += n;
    }
  }

  awaitable<bool> write_client(std::span<const asio::const_buffer> buffers) {
    dog_.arm(limits().idle_timeout, deadline_kind::client_io);
    const auto [ec, n] = co_await client_.write(buffers);
    bytes_written_ += n;
    co_return !ec;
  }

  awaitable<bool> write_client(std::string_view bytes) {
    const std::array<asio::const_buffer, 1> one{asio::buffer(bytes)};
    co_return co_await write_client(one);
  }

  // A local answer on a connection that stays usable.
  awaitable<bool> respond(unsigned status, std::string_view body, bool close) {
    cur_.status = status;
    out_.clear();
    append_local_response(out_, status, "text/plain; charset=utf-8", body, close,
                          req_.ver == http::version::http10);
    const bool ok = co_await write_client(out_);
    co_return ok && !close;
  }

  // A local answer about an upstream failure: it carries the decision header
  // too, so a client sees which subset failed (and whether it failed over).
  awaitable<bool> respond_decided(unsigned status, std::string_view body, bool close) {
    const auto& gateway = snap_->source().gateway;
    std::array<char, 192> reason;
    std::string_view value;
    if (!gateway.decision_header.empty()) {
      value = {reason.data(), cur_.decision.format_reason(reason.data(), reason.size())};
    }
    cur_.status = status;
    out_.clear();
    append_local_response(out_, status, "text/plain; charset=utf-8", body, close,
                          req_.ver == http::version::http10, gateway.decision_header, value);
    const bool ok = co_await write_client(out_);
    co_return ok && !close;
  }

  // A final answer to a request we will not read further: send it, then close
  // gracefully (stop sending, drain what the client still sends for a moment)
  // so the client reads the answer instead of a reset.
  awaitable<void> reject(unsigned status, std::string_view body) {
    cur_.status = status;
    dog_.reset_expired();
    out_.clear();
    append_local_response(out_, status, "text/plain; charset=utf-8", body, true);
    if (!co_await write_client(out_)) {
      co_return;
    }
    client_.shutdown_send();
    dog_.arm(duration{1000}, deadline_kind::client_io);
    std::array<char, 4096> sink;
    std::size_t drained = 0;
    while (drained < 1024 * 1024) {
      const auto [rec, n] = co_await client_.read_some(asio::buffer(sink));
      if (rec || n == 0) {
        break;
      }
      drained += n;
    }
  }

  awaitable<bool> read_client_more() {
    dog_.arm(limits().idle_timeout, deadline_kind::client_io);
    char* p = in_.prepare(read_chunk, std::max<std::size_t>(in_.capacity(), 4 * read_chunk));
    const auto [ec, n] = co_await client_.read_some(asio::buffer(p, in_.writable()));
    if (ec || n == 0) {
      co_return false;
    }
    in_.commit(n);
    bytes_read_ += n;
    co_return true;
  }

  // Sends the request head (in out_) and the body to the upstream. The head's
  // bytes have been consumed from in_ already.
  awaitable<send_outcome> send_request(upstream_exchange& ex, http::body_framing framing,
                                       std::uint64_t content_length) {
    const std::uint64_t max_body = limits().max_body_bytes;
    switch (framing) {
      case http::body_framing::none:
      case http::body_framing::until_close: {
        const std::array<asio::const_buffer, 1> bufs{asio::buffer(out_)};
        co_return co_await ex.send(bufs) ? send_outcome::ok : send_outcome::upstream_failed;
      }
      case http::body_framing::content_length: {
        std::uint64_t left = content_length;
        bool head_pending = true;
        while (head_pending || left > 0) {
          const auto take = std::min<std::uint64_t>(in_.size(), left);
          const std::string_view data = in_.readable().substr(0, take);
          std::array<asio::const_buffer, 2> bufs{asio::buffer(out_), asio::buffer(data)};
          const std::span<const asio::const_buffer> to_send =
              head_pending ? std::span<const asio::const_buffer>(bufs)
                           : std::span<const asio::const_buffer>(bufs).subspan(1);
          if (!data.empty() || head_pending) {
            if (!co_await ex.send(to_send)) {
              co_return send_outcome::upstream_failed;
            }
          }
          head_pending = false;
          in_.consume(take);
          cur_.bytes_in += take;
          left -= take;
          if (left > 0 && !co_await read_client_more()) {
            co_return send_outcome::client_failed;
          }
        }
        co_return send_outcome::ok;
      }
      case http::body_framing::chunked: {
        http::chunked_decoder decoder({4096, limits().max_header_bytes});
        std::uint64_t total = 0;
        bool head_pending = true;
        for (;;) {
          const auto step = decoder.decode(in_.readable());
          if (step.error) {
            co_return send_outcome::bad_body;
          }
          if (!step.data.empty() || step.done) {
            total += step.data.size();
            if (max_body != 0 && total > max_body) {
              co_return send_outcome::too_large;
            }
            chunk_head_.clear();
            std::array<asio::const_buffer, 5> bufs;
            std::size_t count = 0;
            if (head_pending) {
              bufs[count++] = asio::buffer(out_);
            }
            if (!step.data.empty()) {
              http::append_chunk_header(chunk_head_, step.data.size());
              bufs[count++] = asio::buffer(chunk_head_);
              bufs[count++] = asio::buffer(step.data);
              bufs[count++] = asio::buffer(crlf);
            }
            if (step.done) {
              tail_.clear();
              http::append_last_chunk(tail_, decoder.trailers());
              bufs[count++] = asio::buffer(tail_);
            }
            if (!co_await ex.send(std::span<const asio::const_buffer>(bufs.data(), count))) {
              co_return send_outcome::upstream_failed;
            }
            head_pending = false;
          }
          in_.consume(step.consumed);
          cur_.bytes_in += step.consumed;
          if (step.done) {
            co_return send_outcome::ok;
          }
          if (step.need_more || step.consumed == 0) {
            if (!co_await read_client_more()) {
              co_return send_outcome::client_failed;
            }
          }
        }
      }
    }
    co_return send_outcome::ok;
  }

  // Accounting around one request: whatever way it ends, it is logged once.
  awaitable<bool> handle_request(std::size_t head_size) {
    const auto& current = worker_.published();
    if (pub_.get() != current.get()) {
      pub_ = current;
      snap_ = pub_->snapshot.get();
    }
    cur_.start = std::chrono::steady_clock::now();
    cur_.written_before = bytes_written_;
    cur_.bytes_in = head_size;
    cur_.status = 0;
    cur_.upstream = {};
    const auto& access = snap_->source().gateway.access_log;
    cur_.logged = access.mode == config::access_log_mode::all ||
                  (access.mode == config::access_log_mode::sampled &&
                   static_cast<double>(worker_.random() >> 11) * 0x1.0p-53 < access.sample_ratio);
    if (cur_.logged) {
      cur_.method.assign(req_.method);
      cur_.path.assign(req_.path);
    }
    const auto* incoming = req_.find("traceparent");
    cur_.trace.start(incoming ? incoming->value : std::string_view{}, worker_.random(),
                     worker_.random(), worker_.random());

    const routing::request_view view{req_.method, req_.path,    req_.query,
                                     req_.host,   req_.headers, client_ip_};
    cur_.decision = routing::decide(view, *snap_, worker_.random());
    count_decision(cur_.decision);
    ++worker_.active_requests();
    const bool keep_going = co_await forward(head_size);
    --worker_.active_requests();
    finish_request();
    co_return keep_going;
  }

  void count_decision(const routing::decision& d) {
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
    worker_.metrics().record_decision(pub_->series.decision(d.rollout, d.subset, reason));
  }

  void count_upstream_failure(const routing::decision& d, exchange_error err) {
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
    worker_.metrics().record_upstream(pub_->series.upstream(d.service, d.subset), event);
  }

  static metrics::breaker to_metrics(upstream::breaker_kind k) {
    switch (k) {
      case upstream::breaker_kind::max_connections:
        return metrics::breaker::max_connections;
      case upstream::breaker_kind::max_pending:
        return metrics::breaker::max_pending;
      default:
        return metrics::breaker::max_requests;
    }
  }

  void finish_request() {
    const auto& d = cur_.decision;
    const auto end = std::chrono::steady_clock::now();
    const auto latency = std::chrono::duration_cast<std::chrono::nanoseconds>(end - cur_.start);
    metrics::request_sample sample;
    sample.series = pub_->series.request(d.route, d.subset);
    // A request failed over from a sick canary counts as an error of the
    // canary's arm, whatever stable answered: the controller must see it.
    sample.arm = pub_->series.arm(d.rollout, d.assigned_subset());
    sample.status = static_cast<std::uint16_t>(cur_.status);
    sample.error = cur_.status >= 500 || cur_.status == 0 || d.failover_from >= 0;
    sample.latency_ns = static_cast<std::uint64_t>(latency.count());
    sample.bytes_in = cur_.bytes_in;
    sample.bytes_out = bytes_written_ - cur_.written_before;
    sample.now_s = monotonic_seconds(end);
    worker_.metrics().record(sample);
    if (!cur_.logged) {
      return;
    }
    const auto& snap = *snap_;
    std::array<char, 192> reason;
    access_record r;
    r.method = cur_.method;
    r.path = cur_.path;
    r.route = routing::route_name(snap, d.route);
    r.service = routing::service_name(snap, d.service);
    r.subset = d.service >= 0 ? routing::subset_name(snap, d) : std::string_view{};
    r.reason = {reason.data(), d.format_reason(reason.data(), reason.size())};
    r.upstream = cur_.upstream;
    r.trace_id = cur_.trace.trace_id();
    r.status = cur_.status;
    r.duration_ms = std::chrono::duration<double, std::milli>(end - cur_.start).count();
    r.bytes_in = cur_.bytes_in;
    r.bytes_out = bytes_written_ - cur_.written_before;
    r.has_user_key = d.has_key;
    r.user_key_hash = d.key_hash;
    write_access_log(r, log_line_);
  }

  // The rollout's stable subset when the decided subset is another one (a
  // canary or baseline that may fail over to it), else -1.
  std::int32_t stable_of(const routing::decision& d) const {
    if (d.rollout < 0 || d.service < 0) {
      return -1;
    }
    const auto stable = snap_->rollouts()[static_cast<std::size_t>(d.rollout)]->stable;
    return d.subset == stable ? -1 : static_cast<std::int32_t>(stable);
  }

  void fail_over(routing::decision& d, std::int32_t to) {
    const auto& subsets = snap_->services()[static_cast<std::size_t>(d.service)].subsets;
    const auto target = static_cast<std::uint32_t>(to);
    d.fail_over(target, subsets[d.subset].name, subsets[target].name);
  }

  // Methods a client may expect to be sent twice (RFC 9110 9.2.2).
  static bool idempotent(std::string_view method) {
    return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
           method == "DELETE" || method == "TRACE";
  }

  // May a failed attempt be made again elsewhere? Only when no upstream can
  // have acted on it: the connection never opened, or an idempotent request
  // without a body got not a single response byte back.
  static bool replayable(exchange_error err, const upstream_exchange& ex, bool has_body,
                         bool idempotent_method) {
    switch (err) {
      case exchange_error::no_endpoint:
      case exchange_error::connect_refused:
      case exchange_error::connect_timeout:
      case exchange_error::connect_failed:
        return true;
      case exchange_error::send_failed:
      case exchange_error::closed_early:
      case exchange_error::response_timeout:
        return !has_body && idempotent_method && !ex.received_any();
      default:
        return false;
    }
  }

  // Holds one unit of the worker's retry budget until the request ends.
  class retry_hold {
   public:
    explicit retry_hold(upstream::retry_budget& budget) : budget_(budget) {}
    ~retry_hold() {
      if (held_) {
        budget_.release();
      }
    }
    retry_hold(const retry_hold&) = delete;
    retry_hold& operator=(const retry_hold&) = delete;
    bool acquire(std::uint64_t active, const config::retry_config& policy) {
      held_ = held_ || budget_.try_acquire(active, policy.budget, policy.min_concurrency);
      return held_;
    }

   private:
    upstream::retry_budget& budget_;
    bool held_ = false;
  };

  awaitable<bool> forward(std::size_t head_size) {
    const routing::snapshot& snap = *snap_;
    const auto& gateway = snap.source().gateway;
    routing::decision& d = cur_.decision;

    const bool head_request = req_.method == "HEAD";
    const bool client10 = req_.ver == http::version::http10;
    const bool has_body =
        req_.framing == http::body_framing::chunked ||
        (req_.framing == http::body_framing::content_length && req_.content_length > 0);
    const auto framing = req_.framing;
    const auto content_length = req_.content_length;
    bool keep_alive = req_.keep_alive && !worker_.draining();

    if (d.kind == routing::reason_kind::no_route) {
      in_.consume(head_size);
      std::string body = "cohort: no route for ";
      body.append(req_.host).append(req_.path).append("\n");
      co_return co_await respond(404, body, !keep_alive || has_body);
    }
    if (gateway.limits.max_body_bytes != 0 && framing == http::body_framing::content_length &&
        content_length > gateway.limits.max_body_bytes) {
      co_await reject(413, "cohort: request body larger than the limit\n");
      co_return false;
    }

    const auto service_index = static_cast<std::size_t>(d.service);
    const auto& service = snap.services()[service_index];
    const auto start = std::chrono::steady_clock::now();
    const std::int32_t stable = stable_of(d);
    // A canary (or baseline) with nothing in rotation: its users go to stable
    // before anything is tried on it.
    if (stable >= 0 && service.failover == config::failover_mode::stable &&
        worker_.pool().in_rotation(service_index, d.subset, start) == 0) {
      fail_over(d, stable);
    }
    const bool idempotent_method = idempotent(req_.method);
    retry_hold retry(worker_.retry_budget());
    const upstream::endpoint_state* failed = nullptr;
    bool head_consumed = false;
    bool continue_sent = false;
    bool body_consumed = false;
    std::optional<upstream_exchange> ex;
    auto err = exchange_error::none;
    for (unsigned attempt = 0;; ++attempt) {
      exchange_ = nullptr;
      ex.reset();
      ex.emplace(worker_, dog_, exchange_storage_);
      exchange_ = &*ex;
      auto sent = send_outcome::ok;
      err = co_await ex->open(snap, service_index, d.subset, failed);
      if (err == exchange_error::none) {
        const auto spent =
            std::chrono::duration_cast<duration>(std::chrono::steady_clock::now() - start);
        const auto left = std::max(duration{1}, service.request_timeout - spent);
        ex->set_try_timeout(std::min(service.per_try_timeout.value_or(left), left));
        if (req_.expect_continue && has_body && !continue_sent) {
          continue_sent = true;
          if (!co_await write_client(continue_100)) {
            exchange_ = nullptr;
            co_return false;
          }
        }
        out_.clear();
        cur_.upstream = ex->endpoint()->key;
        const upstream_request_options opts{client_ip_, listener_.proto, cur_.upstream,
                                            cur_.trace.traceparent()};
        append_upstream_request_head(out_, req_, opts);
        if (!head_consumed) {
          head_consumed = true;
          in_.consume(head_size);  // req_ views stay readable until in_ moves (the next read)
        }
        sent = co_await send_request(*ex, framing, content_length);
        if (sent == send_outcome::ok) {
          body_consumed = true;
          err = co_await ex->read_head(head_request);
        }
        // A pooled connection the upstream closed while idle: one retry on a fresh
        // connection, only when the request can be replayed (no body).
        if (!has_body && ex->may_retry() &&
            (sent == send_outcome::upstream_failed || err == exchange_error::closed_early)) {
          err = co_await ex->reopen();
          if (err == exchange_error::none) {
            sent = co_await send_request(*ex, framing, content_length);
            if (sent == send_outcome::ok) {
              err = co_await ex->read_head(head_request);
            }
          }
        }
        switch (sent) {
          case send_outcome::ok:
            break;
          case send_outcome::client_failed:
            exchange_ = nullptr;
            co_return false;
          case send_outcome::bad_body:
            exchange_ = nullptr;
            co_await reject(400, "cohort: invalid chunked request body\n");
            co_return false;
          case send_outcome::too_large:
            exchange_ = nullptr;
            co_await reject(413, "cohort: request body larger than the limit\n");
            co_return false;
          case send_outcome::upstream_failed:
            err = dog_.expired() == deadline_kind::upstream_io ? exchange_error::response_timeout
                                                               : exchange_error::send_failed;
            break;
        }
      }
      const auto now = std::chrono::steady_clock::now();
      if (err == exchange_error::breaker_open) {
        // Refused by the gateway itself: no upstream is blamed, nothing is
        // retried on the subset. A canary or baseline sends the user to stable.
        worker_.metrics().record_breaker_overflow(pub_->series.upstream(d.service, d.subset),
                                                  to_metrics(ex->overflow()));
        if (stable >= 0 && d.failover_from < 0 &&
            service.failover == config::failover_mode::stable) {
          fail_over(d, stable);
          failed = nullptr;
          continue;
        }
        break;
      }
      if (ex->endpoint() != nullptr) {
        // Outlier detection: gateway errors and 5xx answers count against the endpoint.
        auto* ep = ex->endpoint();
        const bool failure = err != exchange_error::none || ex->head().status >= 500;
        worker_.pool().report(service_index, d.subset, *ep, failure, now, service.outlier);
      }
      if (err == exchange_error::none) {
        break;
      }
      count_upstream_failure(d, err);
      dog_.reset_expired();
      if (!service.retries.enabled || attempt >= 2 ||
          !replayable(err, *ex, has_body, idempotent_method) ||
          now - start >= service.request_timeout) {
        break;
      }
      // Once more on another endpoint of the subset, then on stable.
      const upstream::endpoint_state* ep = ex->endpoint();
      const std::size_t others = worker_.pool().in_rotation(service_index, d.subset, now) -
                                 (ep != nullptr && !ep->outlier.ejected(now) ? 1 : 0);
      std::int32_t next_subset = -1;
      if (attempt == 0 && ep != nullptr && others > 0) {
        next_subset = static_cast<std::int32_t>(d.subset);
      } else if (stable >= 0 && d.failover_from < 0 && service.retries.to_stable) {
        next_subset = stable;
      }
      if (next_subset < 0) {
        break;
      }
      // A refused connection cost no upstream anything: it spends no budget.
      if (err != exchange_error::connect_refused && err != exchange_error::no_endpoint &&
          !retry.acquire(worker_.active_requests(), service.retries)) {
        break;
      }
      if (next_subset == static_cast<std::int32_t>(d.subset)) {
        failed = ep;
      } else {
        fail_over(d, next_subset);
        failed = nullptr;
      }
    }
    if (!head_consumed) {
      in_.consume(head_size);
    }
    if (err != exchange_error::none) {
      exchange_ = nullptr;
      const auto& subset = service.subsets[d.subset];
      // The request body was consumed only if sending succeeded.
      const bool body_unread = has_body && !body_consumed;
      co_return co_await respond_decided(status_for(err), failure_body(service, subset, *ex, err),
                                         !keep_alive || body_unread);
    }

    const bool ok = co_await relay_response(*ex, d, head_request, client10, keep_alive);
    exchange_ = nullptr;
    co_return ok;
  }

  std::string failure_body(const routing::service& service, const routing::subset& subset,
                           const upstream_exchange& ex, exchange_error err) {
    std::string body = "cohort: upstream error: service '";
    body += service.name;
    body += "' subset '";
    body += subset.name;
    body += "'";
    if (err == exchange_error::breaker_open) {
      body += ": circuit breaker ";
      body += upstream::to_string(ex.overflow());
      body += " open\n";
      return body;
    }
    if (ex.endpoint() != nullptr) {
      body += " endpoint ";
      body += ex.endpoint()->key;
    }
    body += ": ";
    body += ex.failure_detail().empty() ? to_string(err) : ex.failure_detail();
    if (err == exchange_error::response_timeout) {
      body += " (";
      if (service.per_try_timeout) {
        body += "per_try_timeout ";
        body += format_duration(*service.per_try_timeout);
        body += ", ";
      }
      body += "request_timeout ";
      body += format_duration(service.request_timeout);
      body += ")";
    }
    body += '\n';
    return body;
  }

  awaitable<bool> relay_response(upstream_exchange& ex, const routing::decision& d,
                                 bool head_request, bool client10, bool keep_alive) {
    const auto& rh = ex.head();
    cur_.status = rh.status;
    const auto& gateway = snap_->source().gateway;
    downstream_response_options opts;
    if (head_request || rh.framing == http::body_framing::none) {
      opts.body = downstream_body::none;
    } else if (rh.framing == http::body_framing::content_length) {
      opts.body = downstream_body::content_length;
      opts.content_length = rh.content_length;
    } else if (client10) {
      opts.body = downstream_body::until_close;
      keep_alive = false;
    } else {
      opts.body = downstream_body::chunked;
    }
    opts.close = !keep_alive;
    opts.client_http10 = client10;
    std::array<char, 192> reason;
    if (!gateway.decision_header.empty()) {
      opts.decision_header = gateway.decision_header;
      opts.decision_value = {reason.data(), d.format_reason(reason.data(), reason.size())};
    }
    std::string cookie;
    if (d.new_anonymous_id_len > 0 && d.rollout >= 0) {
      const auto& session = snap_->source().rollouts[static_cast<std::size_t>(d.rollout)].session;
      cookie = session.cookie_name;
      cookie += '=';
      cookie += d.new_anonymous_id_view();
      cookie += "; Path=/; Max-Age=";
      cookie += std::to_string(
          std::chrono::duration_cast<std::chrono::seconds>(session.cookie_max_age).count());
      cookie += "; HttpOnly; SameSite=Lax";
      opts.set_cookie = cookie;
    }
    out_.clear();
    append_downstream_response_head(out_, rh, opts);

    const bool chunked_out = opts.body == downstream_body::chunked;
    bool head_pending = true;
    for (;;) {
      response_piece piece;
      if (opts.body == downstream_body::none) {
        piece.done = true;  // nothing to relay (HEAD answers keep the upstream's body unread)
      } else {
        piece = co_await ex.read_body();
      }
      if (piece.failed) {
        co_return false;  // mid-body failure: closing is the only honest signal left
      }
      std::array<asio::const_buffer, 5> bufs;
      std::size_t count = 0;
      if (head_pending) {
        bufs[count++] = asio::buffer(out_);
      }
      if (!piece.data.empty()) {
        if (chunked_out) {
          chunk_head_.clear();
          http::append_chunk_header(chunk_head_, piece.data.size());
          bufs[count++] = asio::buffer(chunk_head_);
          bufs[count++] = asio::buffer(piece.data);
          bufs[count++] = asio::buffer(crlf);
        } else {
          bufs[count++] = asio::buffer(piece.data);
        }
      }
      if (piece.done && chunked_out) {
        tail_.clear();
        http::append_last_chunk(tail_, ex.trailers());
        bufs[count++] = asio::buffer(tail_);
      }
      if (count > 0 &&
          !co_await write_client(std::span<const asio::const_buffer>(bufs.data(), count))) {
        co_return false;
      }
      head_pending = false;
      if (piece.done) {
        break;
      }
    }
    ex.finish();
    co_return keep_alive;
  }

  net::duplex client_;
  worker_context& worker_;
  const listener_info& listener_;
  net::watchdog dog_;
  net::flat_buffer in_;
  std::string out_;
  std::string chunk_head_;
  std::string tail_;
  http::request_head req_;
  std::shared_ptr<const published_state> pub_;
  const routing::snapshot* snap_ = nullptr;
  std::string client_ip_;
  upstream_exchange* exchange_ = nullptr;
  exchange_storage exchange_storage_;
  bool idle_ = false;
  std::uint64_t bytes_read_ = 0;
  std::uint64_t bytes_written_ = 0;

  // The request in progress, for logs and metrics.
  struct current_request {
    std::chrono::steady_clock::time_point start;
    routing::decision decision;
    unsigned status = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t written_before = 0;
    std::string_view upstream;  // endpoint key, owned by the worker's pool
    trace_context trace;
    bool logged = false;
    std::string method;  // copied only when the request is logged
    std::string path;
  } cur_;
  std::string log_line_;
};

}  // namespace

awaitable<void> serve_h1(net::duplex stream, worker_context& worker,
                         const listener_info& listener) {
  h1_session session(std::move(stream), worker, listener);
  co_await session.run();
}

}  // namespace cohort::proxy
