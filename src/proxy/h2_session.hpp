#pragma once
// One downstream HTTP/2 connection (h2 over TLS after ALPN, or h2c with prior
// knowledge): nghttp2 does the framing, each request stream is routed on its
// own and forwarded by its own coroutine on the worker's thread.

#include <string_view>

#include "net/asio.hpp"
#include "net/duplex.hpp"
#include "proxy/h1_session.hpp"
#include "proxy/worker_context.hpp"

namespace cohort::proxy {

// What an HTTP/2 client sends first (RFC 9113 3.4).
inline constexpr std::string_view h2_client_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Serves the connection until it closes (TLS, if any, already handshaken).
// already_read: bytes taken from the stream before (e.g. the client preface);
// copied before the first suspension.
net::awaitable<void> serve_h2(net::duplex stream, worker_context& worker,
                              const listener_info& listener, std::string_view already_read);

}  // namespace cohort::proxy
