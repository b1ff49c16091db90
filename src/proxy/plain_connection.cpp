#include "proxy/plain_connection.hpp"

#include <array>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "proxy/h2_session.hpp"

namespace cohort::proxy {

namespace asio = net::asio;
using net::awaitable;
using net::error_code;
using net::use_nothrow;

namespace {

enum class first_bytes { http1, http2, gone };

// Looks at the first bytes without taking them (MSG_PEEK), so that whichever
// session serves the connection reads them itself.
awaitable<first_bytes> classify(net::duplex& stream, duration wait_limit) {
  using namespace asio::experimental::awaitable_operators;
  auto& socket = stream.socket();
  const auto deadline = std::chrono::steady_clock::now() + wait_limit;
  std::array<char, h2_client_preface.size()> first;
  net::steady_timer timer(socket.get_executor());
  for (;;) {
    error_code ec;
    const auto ready = socket.available(ec);
    if (ec) {
      co_return first_bytes::gone;
    }
    if (ready > 0) {
      const auto n = socket.receive(asio::buffer(first), net::tcp_socket::message_peek, ec);
      if (ec || n == 0) {
        co_return first_bytes::gone;
      }
      const std::string_view seen(first.data(), n);
      if (h2_client_preface.substr(0, n) != seen) {
        co_return first_bytes::http1;
      }
      if (n == h2_client_preface.size()) {
        co_return first_bytes::http2;
      }
      // A prefix of the preface so far: wait a moment for the rest.
      timer.expires_after(std::chrono::milliseconds(2));
      co_await timer.async_wait(use_nothrow);
    } else {
      timer.expires_at(deadline);
      const auto r = co_await (stream.wait_readable() || timer.async_wait(use_nothrow));
      if (r.index() == 1 || std::get<0>(std::get<0>(r))) {
        co_return first_bytes::gone;  // idle past the limit, or closed
      }
      // wait_readable also completes at end of stream: available() is 0 then.
      if (socket.available(ec) == 0) {
        co_return ec ? first_bytes::gone : first_bytes::http1;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      co_return first_bytes::gone;
    }
  }
}

}  // namespace

awaitable<void> serve_plain(net::duplex stream, worker_context& worker,
                            const listener_info& listener) {
  const auto idle = worker.snapshot()->source().gateway.limits.idle_timeout;
  switch (co_await classify(stream, idle)) {
    case first_bytes::http2:
      co_await serve_h2(std::move(stream), worker, listener, {});
      break;
    case first_bytes::http1:
      co_await serve_h1(std::move(stream), worker, listener);
      break;
    case first_bytes::gone:
      stream.close();
      break;
  }
}

}  // namespace cohort::proxy
