#pragma once
// One downstream HTTP/1.1 connection: read a request head, decide, forward,
// stream the response back, and loop while keep-alive holds.

#include <string>

#include "metrics/shard.hpp"
#include "net/asio.hpp"
#include "net/duplex.hpp"
#include "proxy/worker_context.hpp"

namespace cohort::proxy {

struct listener_info {
  std::string name;
  std::string proto = "http";  // X-Forwarded-Proto
  metrics::listener_id metrics_id = 0;
};

// Serves the connection until it closes (TLS, if any, already handshaken). The
// stream is taken by value so it lives in the coroutine frame.
net::awaitable<void> serve_h1(net::duplex stream, worker_context& worker,
                              const listener_info& listener);

}  // namespace cohort::proxy
