#include "proxy/serve_connection.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "common/log.hpp"
#include "net/listener.hpp"
#include "net/tls_context.hpp"
#include "proxy/h2_session.hpp"
#include "proxy/plain_connection.hpp"

namespace cohort::proxy {

namespace asio = net::asio;
using net::use_nothrow;

net::awaitable<void> serve_h2_negotiated(net::duplex stream, worker_context& worker,
                                         const listener_info& listener) {
  co_await serve_h2(std::move(stream), worker, listener, {});
}

std::vector<std::string_view> served_alpn() {
  std::vector<std::string_view> ids;
  for (const auto& p : served_protocols) {
    ids.push_back(p.alpn);
  }
  return ids;
}

namespace {

std::string peer_of(const net::tcp_socket& socket) {
  net::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  return ec ? std::string("unknown") : net::to_string(peer);
}

session_fn session_for(std::string_view alpn) {
  for (const auto& p : served_protocols) {
    if (p.alpn == alpn) {
      return p.serve;
    }
  }
  return &serve_h1;
}

// The handshake, then the session ALPN chose. `tls` is held for the
// connection's life: the contexts its SSL object points into stay alive
// whatever a reload publishes meanwhile.
net::awaitable<void> serve_tls(net::tcp_socket socket, std::shared_ptr<net::server_tls> tls,
                               worker_context& worker, const listener_info& listener) {
  using namespace asio::experimental::awaitable_operators;
  const auto timeout = worker.published()->snapshot->source().gateway.limits.header_timeout;
  net::duplex stream(std::move(socket), tls->context());
  net::steady_timer timer(worker.io(), timeout);
  const auto outcome =
      co_await (stream.handshake(net::ssl::stream_base::server) || timer.async_wait(use_nothrow));
  net::error_code ec = outcome.index() == 1 ? net::error_code(asio::error::timed_out)
                                            : std::get<0>(std::get<0>(outcome));
  if (ec) {
    worker.metrics().tls_handshake_failed(listener.metrics_id);
    log::debug("tls handshake failed",
               {{"listener", listener.name},
                {"peer", peer_of(stream.socket())},
                {"error", net::describe_tls_failure(stream.tls()->native_handle(), ec)}});
    stream.close();
    co_return;
  }
  const unsigned char* id = nullptr;
  unsigned int id_len = 0;
  SSL_get0_alpn_selected(stream.tls()->native_handle(), &id, &id_len);
  const std::string_view alpn = id == nullptr
                                    ? std::string_view{}
                                    : std::string_view(reinterpret_cast<const char*>(id), id_len);
  listener_info secure = listener;
  secure.proto = "https";
  co_await session_for(alpn)(std::move(stream), worker, secure);
}

}  // namespace

// Not a coroutine: a plain connection's start leaves no frame behind for the
// connection's life (about 1 KiB per idle keep-alive connection).
net::awaitable<void> serve_connection(net::tcp_socket socket, worker_context& worker,
                                      const listener_info& listener) {
  const auto& published = worker.published();
  std::shared_ptr<net::server_tls> tls =
      published->tls ? published->tls->listener(listener.name) : nullptr;
  if (!tls) {
    return serve_plain(net::duplex(std::move(socket)), worker, listener);
  }
  return serve_tls(std::move(socket), std::move(tls), worker, listener);
}

}  // namespace cohort::proxy
