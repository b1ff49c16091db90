#pragma once
// A new plain-TCP connection: HTTP/2 with prior knowledge (h2c) when its
// first bytes are the HTTP/2 client preface, HTTP/1.1 otherwise.

#include "net/asio.hpp"
#include "net/duplex.hpp"
#include "proxy/h1_session.hpp"
#include "proxy/worker_context.hpp"

namespace cohort::proxy {

net::awaitable<void> serve_plain(net::duplex stream, worker_context& worker,
                                 const listener_info& listener);

}  // namespace cohort::proxy
