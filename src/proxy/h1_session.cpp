#include "proxy/h1_session.hpp"

#include <array>
#include <optional>

#include "common/monotonic.hpp"
#include "http/chunked.hpp"
#include "http/parser.hpp"
#include "net/flat_buffer.hpp"
#include "net/watchdog.hpp"
#include "proxy/attempts.hpp"
#include "proxy/forward_head.hpp"
#include "proxy/request_scope.hpp"
#include "proxy/tunnel.hpp"
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
// The first read of a request on an idle connection, and the least room
// asked for each further read of a head that did not fit.
constexpr std::size_t first_read = 1024;
constexpr std::size_t head_chunk = 4096;
// A response body up to this size is copied behind its head and written with it.
constexpr std::size_t coalesce_limit = 1024;
// An idle connection keeps its head buffer only up to this capacity.
constexpr std::size_t idle_out_capacity = 4096;
constexpr std::string_view continue_100 = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view crlf = "\r\n";

enum class head_outcome { ok, closed, parse_error, timeout };

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
    co_await dog_.watch(serve(), [this] { cancel_all(); });
  }

  void on_drain() override {
    if (idle_) {
      client_.cancel();
    }
    if (tunnel_ != nullptr) {
      tunnel_->close_after(duration{0});
    }
  }

 private:
  void cancel_all() {
    client_.cancel();
    if (exchange_) {
      exchange_->cancel();  // its connection (HTTP/1.1) or its stream (HTTP/2)
    }
  }

  const config::limits_config& limits() { return worker_.snapshot()->source().gateway.limits; }

  awaitable<void> serve() {
    for (;;) {
      // Reading the head is inlined here (begin_head, head_read): one
      // coroutine frame fewer per request.
      http::parse_result pr;
      auto got = begin_head(pr);
      while (!got) {
        const auto [ec, n] = co_await client_.read_some(head_room_);
        got = head_read(ec, n, pr);
      }
      const head_outcome outcome = *got;
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
      // The accounting around a request is plain code here, not a coroutine
      // of its own: one frame fewer per request.
      begin_request(pr.consumed);
      const bool keep_going = co_await forward(pr.consumed);
      end_request();
      if (!keep_going) {
        break;
      }
    }
    client_.close();
    dog_.stop();
  }

  // The next request head, in steps: begin_head() and head_read() give the
  // outcome, or nullopt when more must be read into head_room_ first.
  std::optional<head_outcome> begin_head(http::parse_result& pr) {
    const auto& lim = limits();
    idle_ = in_.empty();
    if (in_.empty()) {
      dog_.arm(lim.idle_timeout, deadline_kind::idle);
    } else {
      dog_.arm(lim.header_timeout, deadline_kind::header);
    }
    return head_from_buffer(pr);
  }

  std::optional<head_outcome> head_read(const error_code& ec, std::size_t n,
                                        http::parse_result& pr) {
    if (ec || n == 0) {
      if (dog_.expired() == deadline_kind::header) {
        return head_outcome::timeout;
      }
      return head_outcome::closed;
    }
    if (in_.empty()) {
      idle_ = false;
      dog_.arm(limits().header_timeout, deadline_kind::header);
    }
    in_.commit(n);
    bytes_read_ += n;
    return head_from_buffer(pr);
  }

  std::optional<head_outcome> head_from_buffer(http::parse_result& pr) {
    const auto& lim = limits();
    if (!in_.empty()) {
      pr = http::parse_request_head(in_.readable(), {lim.max_header_bytes, lim.max_headers}, req_);
      if (pr.status == http::parse_status::complete) {
        return head_outcome::ok;
      }
      if (pr.status == http::parse_status::error) {
        return head_outcome::parse_error;
      }
    } else {
      if (worker_.draining()) {
        return head_outcome::closed;
      }
      // Between requests: the next head is read into a small block (most
      // heads fit), so an idle connection holds little and a busy one
      // needs one receive per request, no readiness wait before it.
      exchange_storage_.in.release();
      // A small block is what the next head is read into anyway: it stays
      // (freeing and taking it again cost ~100 instructions per request).
      if (in_.capacity() > first_read) {
        in_.release();
      }
      if (out_.capacity() > idle_out_capacity) {
        std::string().swap(out_);
      }
    }
    // A head starts in the small block (kept from the last head, or new); one
    // that outgrew the first read moves to a standard block.
    char* p = in_.empty() ? in_.prepare_small(first_read)
                          : in_.prepare(head_chunk, lim.max_header_bytes + read_chunk);
    if (in_.writable() == 0) {
      pr.error = http::parse_error::head_too_large;
      return head_outcome::parse_error;
    }
    head_room_ = asio::buffer(p, in_.writable());
    return std::nullopt;
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
    scope_.status = status;
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
      value = {reason.data(), scope_.decision.format_reason(reason.data(), reason.size())};
    }
    scope_.status = status;
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
    scope_.status = status;
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

  // How a request of this connection reaches the upstream: the head as
  // parsed, the body decoded from the client's framing and re-framed by the
  // exchange, read from the client as the upstream takes it.
  class h1_sender final : public request_sender {
   public:
    h1_sender(h1_session& session, std::size_t head_size) : s_(session), head_size_(head_size) {}

    awaitable<send_outcome> send(upstream_exchange& ex) override {
      auto& s = s_;
      if (s.req_.expect_continue && has_body() && !continue_sent_) {
        continue_sent_ = true;
        if (!co_await s.write_client(continue_100)) {
          co_return send_outcome::client_failed;
        }
      }
      set_request(ex);
      if (held_) {
        co_return co_await ex.send_body(s.held_body_, true) ? send_outcome::ok
                                                            : send_outcome::upstream_failed;
      }
      if (!has_body()) {
        // The head alone: no body pump, and no coroutine frame for one.
        co_return co_await ex.send_body({}, true) ? send_outcome::ok
                                                  : send_outcome::upstream_failed;
      }
      co_return co_await s.send_body(ex);
    }

    bool ready_head_only(upstream_exchange& ex) override {
      if (has_body() || held_ || ex.http2()) {
        return false;
      }
      set_request(ex);
      return true;
    }

    // The request as this attempt sends it (the head is consumed from the
    // client's buffer on the first attempt).
    void set_request(upstream_exchange& ex) {
      auto& s = s_;
      s.scope_.upstream = ex.endpoint()->key;
      upstream_request_options opts = s.scope_.upstream_options(
          s.snap_->source().gateway.proxy_headers, s.client_ip_, s.listener_.proto);
      opts.upgrade = s.websocket_;
      ex.set_request(s.req_, opts);
      if (!head_consumed_) {
        head_consumed_ = true;
        // req_ views stay readable until in_ moves (the next read).
        s.in_.consume(head_size_ + body_in_buffer_);
      }
    }

    // Reads a small body whole before the first attempt, so that any attempt
    // can send it (a replay after a failure included). The bytes read with
    // the head are copied, not consumed: req_ views into in_ must stay put.
    awaitable<bool> hold_body() {
      auto& s = s_;
      const std::uint64_t length = s.req_.content_length;
      const std::uint64_t present = std::min<std::uint64_t>(s.in_.size() - head_size_, length);
      s.held_body_.assign(s.in_.readable().substr(head_size_, present));
      body_in_buffer_ = present;
      s.held_body_.resize(length);
      std::uint64_t got = present;
      while (got < length) {
        s.dog_.arm(s.limits().idle_timeout, deadline_kind::client_io);
        const auto [ec, n] =
            co_await s.client_.read_some(asio::buffer(s.held_body_.data() + got, length - got));
        if (ec || n == 0) {
          co_return false;
        }
        got += n;
        s.bytes_read_ += n;
      }
      s.scope_.bytes_in += length;
      held_ = true;
      co_return true;
    }

    // A body that hold_body() may take: small, announced by length, and not
    // waiting for a 100 Continue that only an upstream should trigger.
    bool holdable() const {
      const auto& req = s_.req_;
      return req.framing == http::body_framing::content_length && req.content_length > 0 &&
             req.content_length <= max_replay_body && !req.expect_continue;
    }
    bool body_replayable() const { return !has_body() || held_; }

    bool has_body() const {
      const auto& req = s_.req_;
      return req.framing == http::body_framing::chunked ||
             (req.framing == http::body_framing::content_length && req.content_length > 0);
    }
    bool head_consumed() const { return head_consumed_; }

   private:
    h1_session& s_;
    std::size_t head_size_;
    bool continue_sent_ = false;
    bool head_consumed_ = false;
    bool held_ = false;                 // the body is in s_.held_body_
    std::uint64_t body_in_buffer_ = 0;  // body bytes that arrived with the head, in in_
  };

  // Sends the request body from the client to the upstream (the head goes
  // with the first piece). The head's bytes have been consumed from in_.
  awaitable<send_outcome> send_body(upstream_exchange& ex) {
    const std::uint64_t max_body = limits().max_body_bytes;
    switch (req_.framing) {
      case http::body_framing::none:
      case http::body_framing::until_close:
        co_return co_await ex.send_body({}, true) ? send_outcome::ok
                                                  : send_outcome::upstream_failed;
      case http::body_framing::content_length: {
        std::uint64_t left = req_.content_length;
        bool first = true;
        while (first || left > 0) {
          const auto take = std::min<std::uint64_t>(in_.size(), left);
          const std::string_view data = in_.readable().substr(0, take);
          if (!data.empty() || first) {
            if (!co_await ex.send_body(data, take == left)) {
              co_return send_outcome::upstream_failed;
            }
          }
          first = false;
          in_.consume(take);
          scope_.bytes_in += take;
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
            if (!co_await ex.send_body(
                    step.data, step.done,
                    step.done ? std::string_view(decoder.trailers()) : std::string_view{})) {
              co_return send_outcome::upstream_failed;
            }
          }
          in_.consume(step.consumed);
          scope_.bytes_in += step.consumed;
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

  // Accounting around one request (serve calls these around forward):
  // whatever way the request ends, it is logged once.
  void begin_request(std::size_t head_size) {
    const auto& current = worker_.published();
    if (pub_.get() != current.get()) {
      pub_ = current;
      snap_ = pub_->snapshot.get();
    }
    scope_.protocol =
        req_.ver == http::version::http10 ? metrics::protocol::http1_0 : metrics::protocol::http1_1;
    scope_.begin(worker_, *pub_, req_, client_ip_, head_size, listener_.metrics_id);
    written_before_ = bytes_written_;
    websocket_ = is_websocket_upgrade(req_);
    scope_finished_ = false;
    ++worker_.active_requests();
  }

  void end_request() {
    --worker_.active_requests();
    if (!scope_finished_) {
      scope_.bytes_out = bytes_written_ - written_before_;
      scope_.finish(worker_, *pub_, log_line_);
    }
  }

  awaitable<bool> forward(std::size_t head_size) {
    const routing::snapshot& snap = *snap_;
    const auto& gateway = snap.source().gateway;
    routing::decision& d = scope_.decision;

    const bool head_request = req_.method == "HEAD";
    const bool client10 = req_.ver == http::version::http10;
    h1_sender sender(*this, head_size);
    const bool has_body = sender.has_body();
    bool keep_alive = req_.keep_alive && !worker_.draining();

    if (d.kind == routing::reason_kind::no_route) {
      in_.consume(head_size);
      std::string body = "cohort: no route for ";
      body.append(req_.host).append(req_.path).append("\n");
      co_return co_await respond(404, body, !keep_alive || has_body);
    }
    if (gateway.limits.max_body_bytes != 0 && req_.framing == http::body_framing::content_length &&
        req_.content_length > gateway.limits.max_body_bytes) {
      co_await reject(413, "cohort: request body larger than the limit\n");
      co_return false;
    }

    if (sender.holdable() && !co_await sender.hold_body()) {
      co_return false;
    }
    const attempt_plan plan{*pub_,
                            d,
                            scope_.start,
                            sender.body_replayable(),
                            idempotent_method(req_.method),
                            head_request,
                            scope_.grpc_timeout};
    const auto result =
        co_await run_attempts(worker_, dog_, exchange_storage_, plan, exchange_, sender);
    switch (result.sent) {
      case send_outcome::ok:
      case send_outcome::upstream_failed:
        break;
      case send_outcome::client_failed:
        exchange_.reset();
        co_return false;
      case send_outcome::bad_body:
        exchange_.reset();
        co_await reject(400, "cohort: invalid chunked request body\n");
        co_return false;
      case send_outcome::too_large:
        exchange_.reset();
        co_await reject(413, "cohort: request body larger than the limit\n");
        co_return false;
    }
    if (!sender.head_consumed()) {
      in_.consume(head_size);
    }
    if (result.err != exchange_error::none) {
      const std::string body = failure_body(snap, d, *exchange_, result.err);
      exchange_.reset();
      release_held_body();
      // The request body was consumed only if sending succeeded.
      const bool body_unread = has_body && !result.body_sent;
      co_return co_await respond_decided(status_for(result.err), body, !keep_alive || body_unread);
    }

    upstream_exchange& ex = *exchange_;
    scope_.status = ex.head().status;
    bool ok = false;
    if (ex.head().status == 101) {
      ok = co_await tunnel_through(ex, d);
    } else {
      const response_shape shape = begin_response(ex, d, head_request, client10, keep_alive);
      response_piece first;
      bool have_first = true;
      if (shape.body == downstream_body::none) {
        first.done = true;  // nothing to relay (HEAD answers keep the upstream's body unread)
      } else {
        have_first = ex.take_buffered_body(first);
      }
      if (have_first && first.done) {
        // The whole answer is here: it goes out from this frame (relay_body's
        // is for answers that take more reads).
        response_buffers out;
        gather(ex, shape, first, true, out);
        dog_.arm(limits().idle_timeout, deadline_kind::client_io);
        const auto [ec, n] = co_await client_.write(out.span());
        bytes_written_ += n;
        ok = !ec && finish_response(ex, shape.keep_alive);
      } else {
        ok = co_await relay_body(ex, shape, have_first ? &first : nullptr);
      }
    }
    exchange_.reset();
    release_held_body();
    co_return ok;
  }

  // A held body's memory is not kept for the connection's next request.
  void release_held_body() {
    if (held_body_.capacity() > 0) {
      held_body_ = std::string();
    }
  }

  // How the response goes on after its head (begin_response()).
  struct response_shape {
    downstream_body body = downstream_body::none;
    bool keep_alive = false;
  };

  // The response head for the client, into out_.
  response_shape begin_response(upstream_exchange& ex, const routing::decision& d,
                                bool head_request, bool client10, bool keep_alive) {
    const auto& rh = ex.head();
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
    opts.via = gateway.proxy_headers.via;
    std::array<char, 192> reason;
    if (!gateway.decision_header.empty()) {
      opts.decision_header = gateway.decision_header;
      opts.decision_value = {reason.data(), d.format_reason(reason.data(), reason.size())};
    }
    const std::string cookie = anonymous_cookie(*snap_, d);
    opts.set_cookie = cookie;
    out_.clear();
    append_downstream_response_head(out_, rh, opts);
    return {opts.body, keep_alive};
  }

  // The response was relayed whole: gRPC status, the connection to the pool.
  bool finish_response(upstream_exchange& ex, bool keep_alive) {
    scope_.settle_grpc(worker_, *pub_, ex);
    ex.finish();
    return keep_alive;
  }

  // What one write to the client carries: the head (first time), a body
  // piece in its framing, the last chunk.
  struct response_buffers {
    std::array<asio::const_buffer, 5> bufs;
    std::size_t count = 0;
    std::span<const asio::const_buffer> span() const { return {bufs.data(), count}; }
  };

  void gather(upstream_exchange& ex, response_shape shape, response_piece& piece, bool head_pending,
              response_buffers& out) {
    const bool chunked_out = shape.body == downstream_body::chunked;
    if (head_pending && !chunked_out && piece.data.size() <= coalesce_limit) {
      // A small answer goes out as one buffer (send, not sendmsg).
      out_.append(piece.data);
      piece.data = {};
    }
    if (head_pending) {
      out.bufs[out.count++] = asio::buffer(out_);
    }
    if (!piece.data.empty()) {
      if (chunked_out) {
        chunk_head_.clear();
        http::append_chunk_header(chunk_head_, piece.data.size());
        out.bufs[out.count++] = asio::buffer(chunk_head_);
        out.bufs[out.count++] = asio::buffer(piece.data);
        out.bufs[out.count++] = asio::buffer(crlf);
      } else {
        out.bufs[out.count++] = asio::buffer(piece.data);
      }
    }
    if (piece.done && chunked_out) {
      tail_.clear();
      http::append_last_chunk(tail_, ex.trailers());
      out.bufs[out.count++] = asio::buffer(tail_);
    }
  }

  // The head in out_, then the body piece by piece, starting with `first`
  // when the caller already took one from the exchange. A response without
  // a body never comes here: it is whole with its head.
  awaitable<bool> relay_body(upstream_exchange& ex, response_shape shape,
                             const response_piece* first) {
    bool head_pending = true;
    for (;;) {
      response_piece piece;
      if (first != nullptr) {
        piece = *first;
        first = nullptr;
      } else if (!ex.take_buffered_body(piece)) {
        piece = co_await ex.read_body();
      }
      if (piece.failed) {
        co_return false;  // mid-body failure: closing is the only honest signal left
      }
      response_buffers out;
      gather(ex, shape, piece, head_pending, out);
      if (out.count > 0) {
        // write_client() inlined: once per response, without its frame.
        dog_.arm(limits().idle_timeout, deadline_kind::client_io);
        const auto [ec, n] = co_await client_.write(out.span());
        bytes_written_ += n;
        if (ec) {
          co_return false;
        }
      }
      head_pending = false;
      if (piece.done) {
        break;
      }
    }
    co_return finish_response(ex, shape.keep_alive);
  }

  // The upstream switched to WebSocket: relay its 101, then carry bytes both
  // ways until either side closes. The connection ends with the tunnel, and
  // the upstream connection never returns to the pool.
  awaitable<bool> tunnel_through(upstream_exchange& ex, const routing::decision& d) {
    const auto& gateway = snap_->source().gateway;
    if (!websocket_) {
      // Only a WebSocket upgrade is passed on: an upstream that switches
      // anything else was never asked to.
      co_await respond_decided(502, "cohort: upstream switched protocols unasked\n", true);
      co_return false;
    }
    downstream_response_options opts;
    opts.upgrade = true;
    opts.via = gateway.proxy_headers.via;
    std::array<char, 192> reason;
    if (!gateway.decision_header.empty()) {
      opts.decision_header = gateway.decision_header;
      opts.decision_value = {reason.data(), d.format_reason(reason.data(), reason.size())};
    }
    out_.clear();
    append_downstream_response_head(out_, ex.head(), opts);
    if (!co_await write_client(out_)) {
      co_return false;
    }
    // Accounted at the handshake: a tunnel's lifetime is not a request latency.
    scope_.bytes_out = bytes_written_ - written_before_;
    scope_.finish(worker_, *pub_, log_line_);
    scope_finished_ = true;

    dog_.disarm();  // the tunnel keeps its own time
    tunnel t(worker_.io(), client_, *ex.stream(), gateway.websocket.idle_timeout);
    const auto series = pub_->series.upstream(d.service, d.subset);
    worker_.metrics().tunnel_opened(series);
    tunnel_ = &t;
    // Checked against the worker's newest snapshot: a rollback published
    // while the handshake was under way closes this tunnel too.
    const auto& newest = worker_.snapshot();
    worker_.tunnels().add(t, identity_of(d, *snap_), *newest,
                          newest->source().gateway.websocket.rollback_grace);
    if (worker_.draining()) {
      t.close_after(duration{0});
    }
    co_await t.run(in_.readable(), exchange_storage_.in.readable());
    tunnel_ = nullptr;
    worker_.tunnels().remove(t);
    worker_.metrics().tunnel_closed(series);
    in_.consume(in_.size());
    co_return false;
  }

  net::duplex client_;
  worker_context& worker_;
  const listener_info& listener_;
  net::watchdog dog_;
  net::flat_buffer in_;
  asio::mutable_buffer head_room_;  // where the next read of a request head goes
  std::string out_;
  std::string chunk_head_;
  std::string tail_;
  std::string held_body_;  // a small request body read whole (see h1_sender::hold_body)
  http::request_head req_;
  std::shared_ptr<const published_state> pub_;
  const routing::snapshot* snap_ = nullptr;
  std::string client_ip_;
  std::optional<upstream_exchange> exchange_;  // the attempt in progress
  exchange_storage exchange_storage_;
  bool idle_ = false;
  std::uint64_t bytes_read_ = 0;
  std::uint64_t bytes_written_ = 0;
  std::uint64_t written_before_ = 0;  // bytes_written_ when the request began
  request_scope scope_;
  std::string log_line_;
  bool websocket_ = false;       // the request in progress asks for a WebSocket upgrade
  bool scope_finished_ = false;  // accounted already (at a tunnel's handshake)
  tunnel* tunnel_ = nullptr;     // while the connection is a tunnel
};

}  // namespace

awaitable<void> serve_h1(net::duplex stream, worker_context& worker,
                         const listener_info& listener) {
  h1_session session(std::move(stream), worker, listener);
  co_await session.run();
}

}  // namespace cohort::proxy
