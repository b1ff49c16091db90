#pragma once
// The start of every downstream connection: the TLS handshake on a TLS
// listener, then the session of the protocol ALPN chose.

#include <array>
#include <string_view>
#include <vector>

#include "net/asio.hpp"
#include "net/duplex.hpp"
#include "proxy/h1_session.hpp"
#include "proxy/worker_context.hpp"

namespace cohort::proxy {

using session_fn = net::awaitable<void> (*)(net::duplex, worker_context&, const listener_info&);

// HTTP/2 on a connection whose ALPN chose h2 (nothing of it read yet).
net::awaitable<void> serve_h2_negotiated(net::duplex stream, worker_context& worker,
                                         const listener_info& listener);

struct served_protocol {
  std::string_view alpn;  // the IANA ALPN id
  session_fn serve;
};

// The protocols the gateway serves over TLS, in the order it prefers them:
// the one list that ALPN offers from and that serve_connection dispatches
// on. A connection without ALPN is served as HTTP/1.1.
inline constexpr std::array served_protocols{
    served_protocol{"h2", &serve_h2_negotiated},
    served_protocol{"http/1.1", &serve_h1},
};

// The ALPN ids of served_protocols, for the TLS contexts.
std::vector<std::string_view> served_alpn();

// Serves one accepted connection until it closes. On a plain listener, by
// its first bytes: HTTP/2 with prior knowledge or HTTP/1.1. On a listener whose
// current configuration has tls:, first the handshake (bounded by
// limits.header_timeout; failures are logged at debug and counted in
// cohort_tls_handshake_failures_total), then the session ALPN selected, with
// X-Forwarded-Proto: https.
net::awaitable<void> serve_connection(net::tcp_socket socket, worker_context& worker,
                                      const listener_info& listener);

}  // namespace cohort::proxy
