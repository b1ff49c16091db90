#pragma once
// A connection's byte stream: a plain TCP socket, or TLS over one. Sessions
// and upstream connections hold this instead of a socket so that one code
// path serves both; each operation picks the layer with one branch.

#include <iterator>
#include <memory>
#include <tuple>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include "net/asio.hpp"

namespace cohort::net {

namespace ssl = asio::ssl;

class duplex {
 public:
  explicit duplex(tcp_socket socket) : plain_(std::move(socket)) {}
  // TLS over socket; the handshake is still to be done.
  duplex(tcp_socket socket, ssl::context& ctx)
      : plain_(socket.get_executor()),
        tls_(std::make_unique<ssl::stream<tcp_socket>>(std::move(socket), ctx)) {}

  duplex(duplex&&) noexcept = default;
  duplex& operator=(duplex&&) noexcept = default;

  tcp_socket& socket() { return tls_ ? tls_->next_layer() : plain_; }
  const tcp_socket& socket() const { return tls_ ? tls_->next_layer() : plain_; }
  bool secure() const { return tls_ != nullptr; }
  ssl::stream<tcp_socket>* tls() { return tls_.get(); }

  // Reads and writes are deferred operations: co_await runs them in the
  // awaiting coroutine's frame, with one branch on the layer at initiation.
  // Both complete with std::tuple<error_code, std::size_t>.
  template <class MutableBuffers>
  auto read_some(const MutableBuffers& buffers) {
    return asio::async_initiate<decltype(nothrow_deferred), void(error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (tls_) {
            tls_->async_read_some(b, std::move(handler));
          } else {
            plain_.async_read_some(b, std::move(handler));
          }
        },
        nothrow_deferred, buffers);
  }

  // Writes all of buffers. A sequence of one buffer is written as that buffer:
  // Asio sends a single buffer with send(2) but any sequence with sendmsg(2),
  // whose extra header and iovec copies the kernel charges on every write.
  template <class ConstBuffers>
  auto write(const ConstBuffers& buffers) {
    return asio::async_initiate<decltype(nothrow_deferred), void(error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          const auto first = asio::buffer_sequence_begin(b);
          if (first != asio::buffer_sequence_end(b) &&
              std::next(first) == asio::buffer_sequence_end(b)) {
            write_all(asio::const_buffer(*first), std::move(handler));
          } else {
            write_all(b, std::move(handler));
          }
        },
        nothrow_deferred, buffers);
  }

  awaitable<std::tuple<error_code>> handshake(ssl::stream_base::handshake_type side) {
    return tls_->async_handshake(side, use_nothrow);
  }

  // Readiness of the socket itself: meaningful only while no layer above it
  // (TLS) may already hold received bytes, e.g. before a handshake. Each wait
  // re-arms the descriptor in epoll (a system call), so it is not for the
  // request path.
  awaitable<std::tuple<error_code>> wait_readable() {
    return plain_.async_wait(tcp_socket::wait_read, use_nothrow);
  }

  bool is_open() const { return socket().is_open(); }
  void cancel() {
    error_code ignored;
    socket().cancel(ignored);
  }
  // Stops sending (TCP FIN); a TLS peer gets no close_notify (we never wait for one).
  void shutdown_send() {
    error_code ignored;
    socket().shutdown(tcp_socket::shutdown_send, ignored);
  }
  void close() {
    error_code ignored;
    socket().shutdown(tcp_socket::shutdown_both, ignored);
    socket().close(ignored);
  }

 private:
  template <class ConstBuffers, class Handler>
  void write_all(const ConstBuffers& buffers, Handler&& handler) {
    if (tls_) {
      asio::async_write(*tls_, buffers, std::forward<Handler>(handler));
    } else {
      asio::async_write(plain_, buffers, std::forward<Handler>(handler));
    }
  }

  tcp_socket plain_;  // unused (never opened) when tls_ is set
  std::unique_ptr<ssl::stream<tcp_socket>> tls_;
};

}  // namespace cohort::net
