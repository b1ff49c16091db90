#include "proxy/tunnel.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/error.hpp>

namespace cohort::proxy {

namespace asio = net::asio;

std::string_view to_string(tunnel_end e) {
  switch (e) {
    case tunnel_end::closed:
      return "closed";
    case tunnel_end::idle_timeout:
      return "idle timeout";
    case tunnel_end::closed_by_gateway:
      return "closed by the gateway";
  }
  return "closed";
}

tunnel::tunnel(asio::io_context& io, net::duplex& client, net::duplex& upstream,
               duration idle_timeout)
    : client_(client), upstream_(upstream), timer_(io), idle_timeout_(idle_timeout) {}

net::awaitable<tunnel_end> tunnel::run(std::string_view from_client,
                                       std::string_view from_upstream) {
  using namespace asio::experimental::awaitable_operators;
  last_activity_ = clock::now();
  co_await (pumps(from_client, from_upstream) && watch());
  co_return end_;
}

void tunnel::close_after(duration grace) {
  const auto at = clock::now() + grace;
  if (at < forced_) {
    forced_ = at;
    timer_.cancel();  // the watch sleeps until a later deadline: wake it to re-arm
  }
}

void tunnel::stop(tunnel_end why) {
  if (stopping_) {
    return;
  }
  stopping_ = true;
  end_ = why;
  // Pending operations end with operation_aborted; a pump that resumes for
  // an operation completed just before sees stopping_ and issues no other.
  client_.cancel();
  upstream_.cancel();
  timer_.cancel();
}

net::awaitable<void> tunnel::pumps(std::string_view from_client, std::string_view from_upstream) {
  using namespace asio::experimental::awaitable_operators;
  co_await (pump(client_, upstream_, from_client, up_buffer_.data(), from_client_) &&
            pump(upstream_, client_, from_upstream, down_buffer_.data(), from_upstream_));
  done_ = true;
  timer_.cancel();
}

net::awaitable<void> tunnel::pump(net::duplex& from, net::duplex& to, std::string_view pending,
                                  char* buffer, std::uint64_t& counter) {
  if (!pending.empty()) {
    const auto [ec, n] = co_await to.write(asio::buffer(pending));
    counter += n;
    if (ec) {
      stop(tunnel_end::closed);
      co_return;
    }
  }
  while (!stopping_) {
    const auto [rec, n] = co_await from.read_some(asio::buffer(buffer, buffer_size));
    if (stopping_) {
      co_return;
    }
    if (rec || n == 0) {
      if (rec == asio::error::eof || rec == asio::ssl::error::stream_truncated || n == 0) {
        // This side is done sending: pass the half-close on and let the other
        // direction finish (a WebSocket close handshake may still be under way).
        to.shutdown_send();
        co_return;
      }
      stop(tunnel_end::closed);  // a reset or a TLS failure: nothing more can be trusted
      co_return;
    }
    last_activity_ = clock::now();
    const auto [wec, wn] = co_await to.write(asio::buffer(buffer, n));
    counter += wn;
    if (stopping_) {
      co_return;
    }
    if (wec) {
      stop(tunnel_end::closed);
      co_return;
    }
    last_activity_ = clock::now();
  }
}

net::awaitable<void> tunnel::watch() {
  while (!done_ && !stopping_) {
    const auto now = clock::now();
    const auto idle_at = last_activity_ + idle_timeout_;
    if (forced_ <= now) {
      stop(tunnel_end::closed_by_gateway);
      break;
    }
    if (idle_at <= now) {
      stop(tunnel_end::idle_timeout);
      break;
    }
    timer_.expires_at(std::min(idle_at, forced_));
    co_await timer_.async_wait(net::use_nothrow);
  }
}

}  // namespace cohort::proxy
