#include "admin/admin_server.hpp"

#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "http/chunked.hpp"
#include "http/parser.hpp"
#include "net/flat_buffer.hpp"
#include "net/listener.hpp"
#include "proxy/forward_head.hpp"

namespace cohort::admin {

namespace asio = net::asio;
using net::awaitable;
using net::error_code;
using net::use_nothrow;

namespace {
constexpr std::size_t max_admin_body = 8 * 1024 * 1024;
constexpr std::size_t max_admin_head = 65536;

// Reads what the peer sent next into in (bounded by cap); false when it closed or failed.
awaitable<bool> read_more(net::tcp_socket& socket, net::flat_buffer& in, std::size_t cap) {
  char* p = in.prepare(16384, cap);
  auto [ec, n] = co_await socket.async_read_some(asio::buffer(p, in.writable()), use_nothrow);
  if (ec || n == 0) {
    co_return false;
  }
  in.commit(n);
  co_return true;
}

bool is_mutating(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}
}  // namespace

std::string_view request::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (http::iequals(k, name)) {
      return v;
    }
  }
  return {};
}

response json_error(unsigned status, std::string_view message,
                    const std::vector<std::string>& details) {
  nlohmann::json j;
  j["error"] = message;
  j["details"] = details;
  return response{status, "application/json", j.dump() + "\n"};
}

server::server(asio::io_context& ctx, handler h, std::string token)
    : ctx_(ctx), handler_(std::move(h)), token_(std::move(token)) {}

server::~server() = default;

result<bool> server::open(const host_port& address) {
  auto acceptor = net::open_listener(ctx_, address, false);
  if (!acceptor) {
    return acceptor.err();
  }
  acceptor_ = std::make_unique<net::tcp_acceptor>(std::move(*acceptor));
  return true;
}

net::tcp::endpoint server::local_endpoint() const {
  return acceptor_->local_endpoint();
}

void server::start() {
  asio::co_spawn(ctx_, accept_loop(), asio::detached);
}

// An open event stream: events wait in a bounded queue; a slow reader loses
// the oldest ones rather than growing memory.
struct server::subscriber {
  explicit subscriber(asio::io_context& ctx) : wake(ctx) {}
  net::steady_timer wake;
  std::deque<std::string> queue;
  static constexpr std::size_t max_queued = 1024;
};

void server::stop() {
  stopped_ = true;
  if (acceptor_) {
    error_code ec;
    acceptor_->close(ec);
  }
  for (auto* s : subscribers_) {
    s->wake.cancel();
  }
}

void server::broadcast(std::string_view event, std::string_view data) {
  if (subscribers_.empty()) {
    return;
  }
  std::string frame = "event: ";
  frame += event;
  frame += "\ndata: ";
  frame += data;
  frame += "\n\n";
  for (auto* s : subscribers_) {
    if (s->queue.size() >= subscriber::max_queued) {
      s->queue.pop_front();
    }
    s->queue.push_back(frame);
    s->wake.cancel();
  }
}

awaitable<void> server::stream_events(net::tcp_socket& socket) {
  subscriber self(ctx_);
  subscribers_.push_back(&self);
  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "Connection: close\r\n\r\n: cohort events\n\n";
  auto [ec, n] = co_await asio::async_write(socket, asio::buffer(head), use_nothrow);
  (void)n;
  while (!ec && !stopped_) {
    if (self.queue.empty()) {
      // Heartbeat comments keep proxies and browsers from timing the stream out.
      self.wake.expires_after(std::chrono::seconds(15));
      auto [wec] = co_await self.wake.async_wait(use_nothrow);
      if (!wec) {
        self.queue.push_back(": keep-alive\n\n");
      }
      continue;
    }
    std::string batch;
    while (!self.queue.empty()) {
      batch += self.queue.front();
      self.queue.pop_front();
    }
    auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(batch), use_nothrow);
    (void)wn;
    ec = wec;
  }
  std::erase(subscribers_, &self);
}

awaitable<void> server::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_->async_accept(use_nothrow);
    if (ec) {
      if (!acceptor_->is_open()) {
        co_return;
      }
      continue;
    }
    asio::co_spawn(ctx_, serve(std::move(socket)), asio::detached);
  }
}

awaitable<void> server::serve(net::tcp_socket socket) {
  error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  const bool loopback = !ec && net::is_loopback(peer.address());
  net::flat_buffer in;
  http::request_head head;
  for (;;) {
    // Read a head.
    http::parse_result pr;
    for (;;) {
      if (!in.empty()) {
        pr = http::parse_request_head(in.readable(), {max_admin_head, 100}, head);
        if (pr.status != http::parse_status::incomplete) {
          break;
        }
      }
      if (!co_await read_more(socket, in, max_admin_head + 16384)) {
        co_return;
      }
    }
    std::string out;
    if (pr.status == http::parse_status::error) {
      const auto body = json_error(http::status_for(pr.error), http::to_string(pr.error)).body;
      proxy::append_local_response(out, http::status_for(pr.error), "application/json", body, true);
      co_await asio::async_write(socket, asio::buffer(out), use_nothrow);
      co_return;
    }
    request req;
    req.method = head.method;
    req.path = head.path;
    req.query = head.query;
    req.from_loopback = loopback;
    for (const auto& h : head.headers) {
      req.headers.emplace_back(std::string(h.name), std::string(h.value));
    }
    const bool keep_alive = head.keep_alive;
    const auto framing = head.framing;
    const auto length = head.content_length;
    in.consume(pr.consumed);

    // Read the body, buffered and bounded.
    bool too_large = false;
    if (framing == http::body_framing::content_length) {
      if (length > max_admin_body) {
        too_large = true;
      } else {
        while (in.size() < length) {
          if (!co_await read_more(socket, in, max_admin_body + 16384)) {
            co_return;
          }
        }
        req.body.assign(in.readable().substr(0, length));
        in.consume(length);
      }
    } else if (framing == http::body_framing::chunked) {
      http::chunked_decoder decoder;
      for (;;) {
        const auto step = decoder.decode(in.readable());
        if (step.error) {
          co_return;
        }
        req.body.append(step.data);
        in.consume(step.consumed);
        if (req.body.size() > max_admin_body) {
          too_large = true;
          break;
        }
        if (step.done) {
          break;
        }
        if (step.need_more || step.consumed == 0) {
          if (!co_await read_more(socket, in, max_admin_body + 16384)) {
            co_return;
          }
        }
      }
    }

    response resp;
    if (too_large) {
      resp = json_error(413, "request body larger than 8 MiB");
    } else if (is_mutating(req.method) && !req.from_loopback) {
      const std::string expected = "Bearer " + token_;
      if (token_.empty() || req.header("authorization") != expected) {
        resp = json_error(
            401, "a bearer token is required for this call from " + peer.address().to_string());
      } else {
        resp = handler_(req);
      }
    } else {
      resp = handler_(req);
    }
    if (resp.event_stream && resp.status == 200) {
      co_await stream_events(socket);
      socket.shutdown(net::tcp_socket::shutdown_both, ec);
      co_return;
    }
    const bool close = !keep_alive || too_large;
    proxy::append_local_response(out, resp.status, resp.content_type,
                                 req.method == "HEAD" ? std::string_view{} : resp.body, close);
    if (!resp.headers.empty()) {
      // append_local_response knows no extra fields: they go before the blank line.
      std::string fields;
      for (const auto& [name, value] : resp.headers) {
        fields += name + ": " + value + "\r\n";
      }
      out.insert(out.find("\r\n\r\n") + 2, fields);
    }
    auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(out), use_nothrow);
    (void)wn;
    if (wec || close) {
      socket.shutdown(net::tcp_socket::shutdown_both, ec);
      co_return;
    }
  }
}

}  // namespace cohort::admin
