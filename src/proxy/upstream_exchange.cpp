#include "proxy/upstream_exchange.hpp"

#include <boost/asio/ssl/error.hpp>

#include <array>
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
}

net::awaitable<exchange_error> upstream_exchange::open(const routing::snapshot& snap,
                                                       std::size_t service, std::size_t subset,
                                                       const upstream::endpoint_state* avoid) {
  service_ = &snap.services()[service];
  detail_.clear();
  idle_timeout_ = snap.source().gateway.limits.idle_timeout;
  try_timeout_ = service_->request_timeout;
  // Admission first: past max_requests nothing is picked nor connected.
  if (auto* breaker = worker_.pool().breaker(service, subset); breaker != nullptr) {
    if (!breaker->try_start_request()) {
      overflow_ = upstream::breaker_kind::max_requests;
      co_return exchange_error::breaker_open;
    }
    breaker_ = breaker;
  }
  endpoint_ =
      worker_.pool().pick(service, subset, service_->lb, std::chrono::steady_clock::now(), avoid);
  if (endpoint_ == nullptr) {
    co_return exchange_error::no_endpoint;
  }
  ++endpoint_->outstanding;
  counted_outstanding_ = true;
  auto acquired = co_await worker_.pool().acquire(*endpoint_, service_->connect_timeout, breaker_);
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
  switch (acquired.failure) {
    case upstream::connect_failure::refused:
      return exchange_error::connect_refused;
    case upstream::connect_failure::timeout:
      return exchange_error::connect_timeout;
    default:
      return exchange_error::connect_failed;
  }
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
  append_upstream_request_head(storage_.request_head, req, opts);
  chunked_request_ = req.framing == http::body_framing::chunked;
  head_pending_ = true;
}

net::awaitable<bool> upstream_exchange::send_body(std::string_view data, bool last,
                                                  std::string_view trailers) {
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
  co_return co_await send(std::span<const asio::const_buffer>(bufs.data(), count));
}

net::awaitable<bool> upstream_exchange::send(std::span<const asio::const_buffer> buffers) {
  dog_.arm(try_timeout_, deadline_kind::upstream_io);
  const auto [ec, n] = co_await conn_->stream.write(buffers);
  (void)n;
  if (ec) {
    note_tls_error(ec);
  }
  co_return !ec;
}

net::awaitable<bool> upstream_exchange::read_more() {
  char* p = in_.prepare(read_chunk, max_response_head + read_chunk);
  if (in_.writable() == 0) {
    co_return false;
  }
  const auto [ec, n] = co_await conn_->stream.read_some(asio::buffer(p, in_.writable()));
  if (ec || n == 0) {
    note_tls_error(ec);
    co_return false;
  }
  in_.commit(n);
  received_any_ = true;
  bytes_received_ += n;
  co_return true;
}

net::awaitable<exchange_error> upstream_exchange::read_head(bool head_request) {
  const http::parse_limits limits{max_response_head, 200};
  dog_.arm(try_timeout_, deadline_kind::upstream_response);
  for (;;) {
    if (!in_.empty()) {
      const auto r = http::parse_response_head(in_.readable(), limits, head_request, head_);
      if (r.status == http::parse_status::error) {
        co_return exchange_error::bad_response;
      }
      if (r.status == http::parse_status::complete) {
        if (head_.status >= 100 && head_.status < 200 && head_.status != 101) {
          in_.consume(r.consumed);  // interim response: 100 Continue was answered by us
          continue;
        }
        in_.consume(r.consumed);
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
        co_return exchange_error::none;
      }
    }
    if (!co_await read_more()) {
      if (dog_.expired() == deadline_kind::upstream_response) {
        co_return exchange_error::response_timeout;
      }
      co_return in_.empty() ? exchange_error::closed_early : exchange_error::bad_response;
    }
  }
}

net::awaitable<response_piece> upstream_exchange::read_body() {
  for (;;) {
    if (body_done_) {
      co_return response_piece{{}, true, false};
    }
    switch (head_.framing) {
      case http::body_framing::content_length:
        if (!in_.empty()) {
          const auto take = std::min<std::uint64_t>(in_.size(), body_left_);
          const std::string_view data = in_.readable().substr(0, take);
          in_.consume(take);
          body_left_ -= take;
          body_done_ = body_left_ == 0;
          co_return response_piece{data, body_done_, false};
        }
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
      case http::body_framing::none:
        body_done_ = true;
        continue;
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
  if (!conn_) {
    return;
  }
  const bool reusable = body_done_ && head_.keep_alive &&
                        head_.framing != http::body_framing::until_close && in_.empty();
  worker_.pool().release(std::move(conn_), reusable);
}

}  // namespace cohort::proxy
