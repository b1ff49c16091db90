#include "proxy/upstream_exchange.hpp"

#include "common/monotonic.hpp"

#include <boost/asio/ssl/error.hpp>

#include <array>
#include <charconv>
#include "net/tls_context.hpp"

namespace cohort::proxy {

namespace asio = net::asio;
using net::deadline_kind;
using net::use_nothrow;

namespace {
constexpr std::size_t read_chunk = 16384;
constexpr std::size_t max_response_head = 65536;
}  // namespace

unsigned status_for(exchange_error e) {
  switch (e) {
    case exchange_error::no_endpoint:
    case exchange_error::breaker_open:
      return 503;
    case exchange_error::rate_limited:
      return 429;
    case exchange_error::connect_timeout:
    case exchange_error::response_timeout:
      return 504;
    default:
      return 502;
  }
}

std::string_view to_string(exchange_error e) {
  switch (e) {
    case exchange_error::none:
      return "ok";
    case exchange_error::no_endpoint:
      return "no endpoint available";
    case exchange_error::connect_refused:
      return "connection refused";
    case exchange_error::connect_timeout:
      return "connect timed out";
    case exchange_error::connect_failed:
      return "connect failed";
    case exchange_error::send_failed:
      return "sending the request failed";
    case exchange_error::response_timeout:
      return "no response head in time";
    case exchange_error::bad_response:
      return "invalid response";
    case exchange_error::closed_early:
      return "connection closed before a response";
    case exchange_error::body_failed:
      return "response body failed";
    case exchange_error::breaker_open:
      return "circuit breaker open";
    case exchange_error::rate_limited:
      return "rate limit exceeded";
  }
  return "error";
}

upstream_exchange::upstream_exchange(worker_context& worker, net::watchdog& dog,
                                     exchange_storage& storage)
    : worker_(worker), dog_(dog), in_(storage.in), head_(storage.head), storage_(storage) {
  in_.consume(in_.size());  // nothing of a previous exchange may leak into this one
}

upstream_exchange::~upstream_exchange() {
  drop_connection();
}

void upstream_exchange::end_request() {
  if (breaker_ != nullptr) {
    breaker_->end_request();
    breaker_ = nullptr;
  }
}

void upstream_exchange::drop_connection() {
  end_request();
  if (counted_outstanding_ && endpoint_ != nullptr) {
    --endpoint_->outstanding;
    counted_outstanding_ = false;
  }
  if (conn_) {
    worker_.pool().release(std::move(conn_), false);
  }
  h2_.reset();  // an unfinished stream is reset (CANCEL); its connection lives on
}

void upstream_exchange::cancel() {
  if (conn_) {
    conn_->stream.cancel();
  }
  if (h2_) {
    h2_->cancel();
  }
}

namespace {

exchange_error connect_error(upstream::connect_failure f) {
  switch (f) {
    case upstream::connect_failure::refused:
      return exchange_error::connect_refused;
    case upstream::connect_failure::timeout:
      return exchange_error::connect_timeout;
    default:
      return exchange_error::connect_failed;
  }
}

}  // namespace

net::awaitable<exchange_error> upstream_exchange::open_h2() {
  upstream::h2_settings settings;
  settings.idle_timeout = idle_timeout_;
  auto got = co_await upstream::acquire_h2(worker_.pool(), *endpoint_, service_->connect_timeout,
                                           breaker_, settings);
  if (!got.stream) {
    if (got.overflow != upstream::breaker_kind::none) {
      overflow_ = got.overflow;
      co_return exchange_error::breaker_open;
    }
    co_return connect_error(got.failure);
  }
  h2_ = std::move(got.stream);
  h2_submitted_ = false;
  co_return exchange_error::none;
}

exchange_error upstream_exchange::begin_open(const routing::snapshot& snap, std::size_t service,
                                             std::size_t subset,
                                             const upstream::endpoint_state* avoid) {
  service_ = &snap.services()[service];
  detail_.clear();
  idle_timeout_ = snap.source().gateway.limits.idle_timeout;
  try_timeout_ = service_->request_timeout;
  // Admission first: past max_requests nothing is picked nor connected.
  if (auto* breaker = worker_.pool().breaker(service, subset); breaker != nullptr) {
    if (!breaker->try_start_request()) {
      overflow_ = upstream::breaker_kind::max_requests;
      return exchange_error::breaker_open;
    }
    breaker_ = breaker;
  }
  // The subset's rate limit is process-wide: one lock-free bucket for all workers.
  if (auto* limiter = worker_.pool().limiter(service, subset); limiter != nullptr) {
    const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    const auto verdict = limiter->try_take(now_ns);
    if (!verdict.admitted) {
      retry_after_ = std::chrono::nanoseconds(verdict.retry_after_ns);
      return exchange_error::rate_limited;
    }
  }
  endpoint_ = worker_.pool().pick(service, subset, service_->lb, coarse_now(), avoid);
  if (endpoint_ == nullptr) {
    return exchange_error::no_endpoint;
  }
  ++endpoint_->outstanding;
  counted_outstanding_ = true;
  http2_ = service_->protocol == config::upstream_protocol::http2;
  if (!http2_) {
    conn_ = worker_.pool().take_idle(*endpoint_);
  }
  return exchange_error::none;
}

net::awaitable<exchange_error> upstream_exchange::finish_open() {
  if (http2_) {
    co_return co_await open_h2();
  }
  auto acquired = co_await worker_.pool().connect(*endpoint_, service_->connect_timeout, breaker_);
  if (!acquired.conn) {
    co_return acquire_failed(acquired);
  }
  conn_ = std::move(acquired.conn);
  co_return exchange_error::none;
}

exchange_error upstream_exchange::acquire_failed(upstream::acquire_result& acquired) {
  if (acquired.overflow != upstream::breaker_kind::none) {
    overflow_ = acquired.overflow;
    return exchange_error::breaker_open;
  }
  detail_ = std::move(acquired.reason);
  return connect_error(acquired.failure);
}

void upstream_exchange::note_tls_error(const net::error_code& ec) {
  // Only OpenSSL's own errors (alerts, bad records): a peer that just closed
  // shows up as stream_truncated or EOF and needs no explanation.
  if (ec.category() != asio::error::get_ssl_category() || endpoint_ == nullptr) {
    return;
  }
  detail_ = "TLS error from " + endpoint_->key + ": " + net::describe_tls_failure(nullptr, ec);
}

net::awaitable<exchange_error> upstream_exchange::reopen() {
  if (conn_) {
    worker_.pool().release(std::move(conn_), false);
  }
  in_.consume(in_.size());
  received_any_ = false;
  detail_.clear();
  if (http2_) {
    // The refused stream's connection is draining or gone: this takes another.
    h2_.reset();
    co_return co_await open_h2();
  }
  auto acquired = co_await worker_.pool().connect(*endpoint_, service_->connect_timeout, breaker_);
  if (!acquired.conn) {
    co_return acquire_failed(acquired);
  }
  conn_ = std::move(acquired.conn);
  co_return exchange_error::none;
}

void upstream_exchange::set_request(const http::request_head& req,
                                    const upstream_request_options& opts) {
  storage_.request_head.clear();
  if (http2_) {
    const bool tls = h2_ && h2_->connection().secure();
    upstream_h2_request_fields(req, opts, tls ? "https" : "http", storage_.request_head,
                               storage_.h2_fields);
    h2_has_body_ = req.framing == http::body_framing::chunked ||
                   (req.framing == http::body_framing::content_length && req.content_length > 0);
    h2_submitted_ = false;
    head_pending_ = true;
    return;
  }
  append_upstream_request_head(storage_.request_head, req, opts);
  chunked_request_ = req.framing == http::body_framing::chunked;
  head_pending_ = true;
}

net::awaitable<bool> upstream_exchange::send_body(std::string_view data, bool last,
                                                  std::string_view trailers) {
  if (http2_) {
    if (!h2_) {
      co_return false;
    }
    dog_.arm(try_timeout_, deadline_kind::upstream_io);
    if (!h2_submitted_) {
      h2_submitted_ = true;
      head_pending_ = false;
      if (!h2_->submit(storage_.h2_fields, h2_has_body_)) {
        co_return false;
      }
    }
    if (!h2_has_body_) {
      co_return true;  // END_STREAM went with HEADERS
    }
    co_return co_await h2_->send_body(data, last, trailers);
  }
  static constexpr std::string_view crlf = "\r\n";
  std::array<asio::const_buffer, 5> bufs;
  std::size_t count = 0;
  if (head_pending_) {
    bufs[count++] = asio::buffer(storage_.request_head);
    head_pending_ = false;
  }
  if (chunked_request_) {
    if (!data.empty()) {
      storage_.chunk_head.clear();
      http::append_chunk_header(storage_.chunk_head, data.size());
      bufs[count++] = asio::buffer(storage_.chunk_head);
      bufs[count++] = asio::buffer(data);
      bufs[count++] = asio::buffer(crlf);
    }
    if (last) {
      storage_.tail.clear();
      http::append_last_chunk(storage_.tail, trailers);
      bufs[count++] = asio::buffer(storage_.tail);
    }
  } else if (!data.empty()) {
    bufs[count++] = asio::buffer(data);
  }
  if (count == 0) {
    co_return true;
  }
  dog_.arm(try_timeout_, deadline_kind::upstream_io);
  const auto [ec, n] =
      co_await conn_->stream.write(std::span<const asio::const_buffer>(bufs.data(), count));
  (void)n;
  if (ec) {
    note_tls_error(ec);
  }
  co_return !ec;
}

std::string_view upstream_exchange::take_head() {
  head_pending_ = false;
  dog_.arm(try_timeout_, deadline_kind::upstream_io);
  return storage_.request_head;
}

bool upstream_exchange::head_sent(const net::error_code& ec) {
  if (ec) {
    note_tls_error(ec);
  }
  return !ec;
}

char* upstream_exchange::read_room() {
  char* p = in_.prepare(read_chunk, max_response_head + read_chunk);
  return in_.writable() == 0 ? nullptr : p;
}

bool upstream_exchange::took(const net::error_code& ec, std::size_t n) {
  if (ec || n == 0) {
    note_tls_error(ec);
    return false;
  }
  in_.commit(n);
  received_any_ = true;
  bytes_received_ += n;
  return true;
}

net::awaitable<bool> upstream_exchange::read_more() {
  char* room = read_room();
  if (room == nullptr) {
    co_return false;
  }
  const auto [ec, n] = co_await conn_->stream.read_some(asio::buffer(room, in_.writable()));
  co_return took(ec, n);
}

net::awaitable<exchange_error> upstream_exchange::read_head_h2(bool head_request) {
  dog_.arm(try_timeout_, deadline_kind::upstream_response);
  if (!h2_) {
    co_return exchange_error::closed_early;
  }
  const auto failure = co_await h2_->wait_head();
  switch (failure) {
    case upstream::h2_failure::none:
      break;
    case upstream::h2_failure::bad_response:
      co_return exchange_error::bad_response;
    case upstream::h2_failure::cancelled:
      co_return dog_.expired() == deadline_kind::upstream_response
          ? exchange_error::response_timeout
          : exchange_error::closed_early;
    default:
      // Refused (nothing processed; may_retry() says so), reset, or the connection died.
      co_return exchange_error::closed_early;
  }
  head_.clear();
  head_.ver = http::version::http11;
  head_.status = h2_->status();
  head_.headers.assign(h2_->headers().begin(), h2_->headers().end());
  head_.keep_alive = true;
  head_.content_length = 0;
  const http::header* length = head_.find("content-length");
  std::uint64_t declared = 0;
  const bool has_length =
      length != nullptr &&
      std::from_chars(length->value.data(), length->value.data() + length->value.size(), declared)
              .ec == std::errc{};
  if (head_request || head_.status == 204 || head_.status == 304) {
    head_.framing = http::body_framing::none;
    head_.content_length = has_length ? declared : 0;
    body_done_ = true;
  } else if (!has_length && h2_->complete() && h2_->trailers().empty()) {
    // The stream ended with its head (a gRPC trailers-only answer): a
    // client must see it end there too, not a head and then an empty body.
    head_.framing = http::body_framing::none;
    body_done_ = true;
  } else if (has_length) {
    // nghttp2 holds the DATA to this length.
    head_.framing = http::body_framing::content_length;
    head_.content_length = declared;
    body_done_ = false;
  } else {
    head_.framing = http::body_framing::chunked;  // meaning: until END_STREAM
    body_done_ = false;
  }
  co_return exchange_error::none;
}

net::awaitable<exchange_error> upstream_exchange::read_head(bool head_request) {
  if (http2_) {
    co_return co_await read_head_h2(head_request);
  }
  auto result = begin_head(head_request);
  while (!result) {
    const auto [ec, n] = co_await conn_->stream.read_some(head_room_);
    result = head_read(ec, n, head_request);
  }
  co_return *result;
}

std::optional<exchange_error> upstream_exchange::begin_head(bool head_request) {
  dog_.arm(try_timeout_, deadline_kind::upstream_response);
  return head_from_buffer(head_request);
}

std::optional<exchange_error> upstream_exchange::head_read(const net::error_code& ec, std::size_t n,
                                                           bool head_request) {
  if (!took(ec, n)) {
    return head_failed();
  }
  return head_from_buffer(head_request);
}

std::optional<exchange_error> upstream_exchange::head_from_buffer(bool head_request) {
  const http::parse_limits limits{max_response_head, 200};
  while (!in_.empty()) {
    const auto r = http::parse_response_head(in_.readable(), limits, head_request, head_);
    if (r.status == http::parse_status::error) {
      return exchange_error::bad_response;
    }
    if (r.status != http::parse_status::complete) {
      break;
    }
    in_.consume(r.consumed);
    if (head_.status >= 100 && head_.status < 200 && head_.status != 101) {
      continue;  // interim response: 100 Continue was answered by us
    }
    // The head's views point into in_; nothing may move in_ until the
    // caller has written the head out (read_body keeps unread bytes in place).
    switch (head_.framing) {
      case http::body_framing::content_length:
        body_left_ = head_.content_length;
        body_done_ = body_left_ == 0;
        break;
      case http::body_framing::none:
        body_done_ = true;
        break;
      default:
        body_done_ = false;
    }
    chunked_.reset();
    return exchange_error::none;
  }
  char* room = read_room();
  if (room == nullptr) {
    return head_failed();
  }
  head_room_ = asio::buffer(room, in_.writable());
  return std::nullopt;
}

exchange_error upstream_exchange::head_failed() {
  if (dog_.expired() == deadline_kind::upstream_response) {
    return exchange_error::response_timeout;
  }
  return in_.empty() ? exchange_error::closed_early : exchange_error::bad_response;
}

bool upstream_exchange::take_buffered_body(response_piece& out) {
  if (http2_) {
    return false;
  }
  if (body_done_) {
    out = response_piece{{}, true, false};
    return true;
  }
  if (head_.framing == http::body_framing::none) {
    body_done_ = true;
    out = response_piece{{}, true, false};
    return true;
  }
  if (head_.framing == http::body_framing::content_length && !in_.empty()) {
    const auto take = std::min<std::uint64_t>(in_.size(), body_left_);
    const std::string_view data = in_.readable().substr(0, take);
    in_.consume(take);
    body_left_ -= take;
    body_done_ = body_left_ == 0;
    out = response_piece{data, body_done_, false};
    return true;
  }
  return false;
}

net::awaitable<response_piece> upstream_exchange::read_body() {
  if (http2_) {
    if (body_done_) {
      co_return response_piece{{}, true, false};
    }
    dog_.arm(idle_timeout_, deadline_kind::upstream_io);
    const auto piece = co_await h2_->read_body();
    body_done_ = piece.done;
    co_return response_piece{piece.data, piece.done, piece.failed};
  }
  for (;;) {
    response_piece buffered;
    if (take_buffered_body(buffered)) {
      co_return buffered;
    }
    switch (head_.framing) {
      case http::body_framing::content_length:
      case http::body_framing::none:
        break;
      case http::body_framing::chunked:
        if (!in_.empty()) {
          const auto step = chunked_.decode(in_.readable());
          if (step.error) {
            co_return response_piece{{}, false, true};
          }
          in_.consume(step.consumed);
          if (step.done) {
            body_done_ = true;
          }
          if (!step.data.empty() || step.done) {
            co_return response_piece{step.data, step.done, false};
          }
          if (step.consumed > 0 && !step.need_more) {
            continue;
          }
        }
        break;
      case http::body_framing::until_close:
        if (!in_.empty()) {
          const std::string_view data = in_.readable();
          in_.consume(data.size());
          co_return response_piece{data, false, false};
        }
        break;
    }
    dog_.arm(idle_timeout_, deadline_kind::upstream_io);
    if (!co_await read_more()) {
      if (head_.framing == http::body_framing::until_close &&
          dog_.expired() == deadline_kind::none) {
        body_done_ = true;
        conn_->reused = false;
        continue;
      }
      co_return response_piece{{}, false, true};
    }
  }
}

void upstream_exchange::finish() {
  end_request();
  if (counted_outstanding_ && endpoint_ != nullptr) {
    --endpoint_->outstanding;
    counted_outstanding_ = false;
  }
  h2_.reset();  // a stream not read to its end is reset; the connection stays
  if (!conn_) {
    return;
  }
  const bool reusable = body_done_ && head_.keep_alive &&
                        head_.framing != http::body_framing::until_close && in_.empty();
  worker_.pool().release(std::move(conn_), reusable);
}

}  // namespace cohort::proxy
