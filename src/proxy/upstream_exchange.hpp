#pragma once
// The upstream half of forwarding one request, independent of the downstream
// protocol: pick an endpoint of the decided subset, get a connection, send the
// request, read the response head and body pieces. An HTTP/1.1 session drives
// it today; an HTTP/2 stream will drive the same object.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "http/chunked.hpp"
#include "http/message.hpp"
#include "http/parser.hpp"
#include "net/flat_buffer.hpp"
#include "net/watchdog.hpp"
#include "proxy/forward_head.hpp"
#include "proxy/worker_context.hpp"
#include "upstream/h2_connection.hpp"

namespace cohort::proxy {

enum class exchange_error : std::uint8_t {
  none,
  no_endpoint,       // 503: the subset has no endpoint
  connect_refused,   // 502
  connect_timeout,   // 504
  connect_failed,    // 502
  send_failed,       // 502 (or a retry on a fresh connection)
  response_timeout,  // 504
  bad_response,      // 502: unparsable or ambiguous framing
  closed_early,      // 502: closed before a complete response head
  body_failed,       // response body broken mid-way: the client connection is reset
  breaker_open,      // 503: a circuit breaker of the subset is open (see overflow())
  rate_limited,      // 429: the subset's rate limit is spent (see retry_after())
};

unsigned status_for(exchange_error e);
std::string_view to_string(exchange_error e);

struct response_piece {
  std::string_view data;  // decoded body bytes (a view into the exchange's buffer)
  bool done = false;      // the body is complete
  bool failed = false;
};

// Storage an exchange works in, owned by the downstream connection so that it
// is reused from one request to the next (no allocation per request).
struct exchange_storage {
  net::flat_buffer in;
  http::response_head head;
  std::string request_head;  // the serialized HTTP/1.1 request head
  std::string chunk_head;
  std::string tail;                     // last chunk and trailers
  std::vector<http::header> h2_fields;  // HTTP/2: the request head, viewing request_head
};

class upstream_exchange {
 public:
  upstream_exchange(worker_context& worker, net::watchdog& dog, exchange_storage& storage);
  ~upstream_exchange();

  // Opening is two steps so that the common case needs no coroutine frame.
  // begin_open() admits (breaker, rate limit), picks an endpoint and takes an
  // idle connection to it; when it succeeded without one (or for an HTTP/2
  // stream), open() is false and finish_open() connects.
  // snap must be the worker's current snapshot (the pool indexes its subsets)
  // and must outlive the exchange. `avoid`: an endpoint that already failed
  // this request (a retry goes elsewhere if it can).
  exchange_error begin_open(const routing::snapshot& snap, std::size_t service, std::size_t subset,
                            const upstream::endpoint_state* avoid);
  net::awaitable<exchange_error> finish_open();
  bool open() const { return http2_ ? h2_ != nullptr : conn_ != nullptr; }
  // A new connection to the same endpoint, after a reused one failed untouched.
  net::awaitable<exchange_error> reopen();

  // How long this attempt may wait for the upstream (sending, then the
  // response head): the per-try timeout or what is left of the request's.
  // begin_open() sets the service's request_timeout; call this after it.
  void set_try_timeout(duration d) { try_timeout_ = d; }

  // The request to send on this attempt. Its views must stay valid until
  // the first send_body() of the attempt, which writes the head.
  void set_request(const http::request_head& req, const upstream_request_options& opts);
  // Sends the head (on the first call after set_request) and one piece of the
  // body, in one gathered write; `last` ends the body, with `trailers`
  // (HTTP/1 field lines "name: value\r\n...", may be empty). A request
  // without a body is sent with send_body({}, true).
  net::awaitable<bool> send_body(std::string_view data, bool last, std::string_view trailers = {});
  // send_body({}, true) in two steps, for an HTTP/1.1 caller that writes on
  // stream() in its own frame (each coroutine level costs ~400 instructions
  // per request): take_head() arms the deadline and hands over the head,
  // head_sent() takes the write's result.
  std::string_view take_head();
  bool head_sent(const net::error_code& ec);

  // Reads the final response head (1xx interim responses are skipped).
  net::awaitable<exchange_error> read_head(bool head_request);
  // read_head() in steps, for an HTTP/1.1 caller that reads on stream() in its
  // own frame: begin_head() arms the deadline and parses what is buffered;
  // while it or head_read() gives no result, the caller reads into
  // head_room() and passes what the read returned to head_read().
  std::optional<exchange_error> begin_head(bool head_request);
  net::asio::mutable_buffer head_room() const { return head_room_; }
  std::optional<exchange_error> head_read(const net::error_code& ec, std::size_t n,
                                          bool head_request);
  const http::response_head& head() const { return head_; }

  // The next piece of the body, decoded from its framing.
  net::awaitable<response_piece> read_body();
  // The next piece when it needs no read (an HTTP/1 body by length already
  // buffered, or the end): true and out set. A small response's body usually
  // arrives with its head, so this spares read_body()'s coroutine frame.
  bool take_buffered_body(response_piece& out);
  // HTTP/1 field lines ("name: value\r\n..."), whatever the upstream protocol.
  const std::string& trailers() const { return h2_ ? h2_->trailers() : chunked_.trailers(); }

  // Retrying is safe: the connection came from the idle pool and the upstream
  // sent nothing back (it had closed the connection while idle); over
  // HTTP/2, the upstream refused the stream (GOAWAY, REFUSED_STREAM).
  bool may_retry() const {
    if (h2_) {
      return h2_->failure() == upstream::h2_failure::refused && !h2_->received_any();
    }
    return conn_ && conn_->reused && !received_any_;
  }
  // The upstream sent nothing back: replaying the request elsewhere cannot
  // show the client two answers.
  bool received_any() const { return h2_ ? h2_->received_any() : received_any_; }

  // Wakes whatever the exchange waits for (a deadline passed); the wait then fails.
  void cancel();

  // Ends the exchange; the connection goes back to the pool when the response
  // was read completely and both sides allow keep-alive.
  void finish();

  const upstream::endpoint_state* endpoint() const { return endpoint_; }
  upstream::endpoint_state* endpoint() { return endpoint_; }
  // HTTP/1.1 only: an HTTP/2 exchange shares its connection (null then).
  net::duplex* stream() { return conn_ ? &conn_->stream : nullptr; }
  std::uint64_t bytes_received() const { return h2_ ? h2_->bytes_received() : bytes_received_; }
  bool http2() const { return http2_; }
  // The breaker that refused the exchange (breaker_open), else none.
  upstream::breaker_kind overflow() const { return overflow_; }
  // rate_limited: how long until the subset's bucket has a token again.
  std::chrono::nanoseconds retry_after() const { return retry_after_; }
  // Why the last attempt failed, when there is more to say than the error's
  // name: a TLS handshake or alert ("TLS handshake with 127.0.0.1:9443
  // failed: certificate verify failed: ..."). Empty otherwise.
  const std::string& failure_detail() const { return detail_; }

 private:
  net::awaitable<bool> read_more();
  // read_more() in two steps, for a caller that reads without its frame: where
  // to read (null when the response outgrew its limit), then what arrived.
  char* read_room();
  bool took(const net::error_code& ec, std::size_t n);
  // The head from what is buffered, or nullopt with head_room_ set to read more.
  std::optional<exchange_error> head_from_buffer(bool head_request);
  exchange_error head_failed();
  net::awaitable<exchange_error> open_h2();
  net::awaitable<exchange_error> read_head_h2(bool head_request);
  void drop_connection();
  exchange_error acquire_failed(upstream::acquire_result& acquired);
  // Keeps what OpenSSL said about a failed read or write on a TLS connection.
  void note_tls_error(const net::error_code& ec);
  void end_request();

  worker_context& worker_;
  net::watchdog& dog_;
  const routing::service* service_ = nullptr;
  duration idle_timeout_{60000};
  duration try_timeout_{15000};
  upstream::endpoint_state* endpoint_ = nullptr;
  std::unique_ptr<upstream::connection> conn_;
  // HTTP/2 services (protocol: http2): a stream instead of a connection.
  bool http2_ = false;
  bool h2_submitted_ = false;
  bool h2_has_body_ = false;
  std::unique_ptr<upstream::h2_stream> h2_;
  net::flat_buffer& in_;
  http::response_head& head_;
  exchange_storage& storage_;
  bool head_pending_ = false;
  net::asio::mutable_buffer head_room_;
  bool chunked_request_ = false;
  http::chunked_decoder chunked_;
  std::uint64_t body_left_ = 0;  // content_length framing
  bool body_done_ = false;
  bool received_any_ = false;
  bool counted_outstanding_ = false;
  upstream::circuit_breaker* breaker_ = nullptr;  // set while this exchange counts as a request
  upstream::breaker_kind overflow_ = upstream::breaker_kind::none;
  std::chrono::nanoseconds retry_after_{0};
  std::uint64_t bytes_received_ = 0;
  std::string detail_;
};

}  // namespace cohort::proxy
