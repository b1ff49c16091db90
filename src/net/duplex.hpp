#pragma once
// A connection's byte stream: a plain TCP socket, or TLS over one. Sessions
// and upstream connections hold this instead of a socket so that one code
// path serves both; each operation picks the layer with one branch and
// returns Asio's own awaitable (no extra coroutine frame per read or write).

#include <memory>
#include <tuple>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include "net/asio.hpp"

namespace cohort::net {

namespace ssl = asio::ssl;

class duplex {
 public:
  explicit duplex(tcp::socket socket) : plain_(std::move(socket)) {}
  // TLS over socket; the handshake is still to be done.
  duplex(tcp::socket socket, ssl::context& ctx)
      : plain_(socket.get_executor()),
        tls_(std::make_unique<ssl::stream<tcp::socket>>(std::move(socket), ctx)) {}

  duplex(duplex&&) noexcept = default;
  duplex& operator=(duplex&&) noexcept = default;

  tcp::socket& socket() { return tls_ ? tls_->next_layer() : plain_; }
  const tcp::socket& socket() const { return tls_ ? tls_->next_layer() : plain_; }
  bool secure() const { return tls_ != nullptr; }
  ssl::stream<tcp::socket>* tls() { return tls_.get(); }

  template <class MutableBuffers>
  awaitable<std::tuple<error_code, std::size_t>> read_some(const MutableBuffers& buffers) {
    if (tls_) {
      return tls_->async_read_some(buffers, use_nothrow);
    }
    return plain_.async_read_some(buffers, use_nothrow);
  }

  // Writes all of buffers.
  template <class ConstBuffers>
  awaitable<std::tuple<error_code, std::size_t>> write(const ConstBuffers& buffers) {
    if (tls_) {
      return asio::async_write(*tls_, buffers, use_nothrow);
    }
    return asio::async_write(plain_, buffers, use_nothrow);
  }

  awaitable<std::tuple<error_code>> handshake(ssl::stream_base::handshake_type side) {
    return tls_->async_handshake(side, use_nothrow);
  }

  // Readiness of the socket itself: meaningful only while no layer above it
  // (TLS) may already hold received bytes, e.g. before a handshake. Each wait
  // re-arms the descriptor in epoll (a system call), so it is not for the
  // request path.
  awaitable<std::tuple<error_code>> wait_readable() {
    return plain_.async_wait(tcp::socket::wait_read, use_nothrow);
  }

  bool is_open() const { return socket().is_open(); }
  void cancel() {
    error_code ignored;
    socket().cancel(ignored);
  }
  // Stops sending (TCP FIN); a TLS peer gets no close_notify (we never wait for one).
  void shutdown_send() {
    error_code ignored;
    socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
  void close() {
    error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

 private:
  tcp::socket plain_;  // unused (never opened) when tls_ is set
  std::unique_ptr<ssl::stream<tcp::socket>> tls_;
};

}  // namespace cohort::net
