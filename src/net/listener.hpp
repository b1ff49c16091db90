#pragma once
// Listening sockets: one per worker per listener, all bound to the same
// address with SO_REUSEPORT so the kernel spreads connections over workers.

#include <string>

#include "common/result.hpp"
#include "common/units.hpp"
#include "net/asio.hpp"

namespace cohort::net {

// Opens a listening acceptor on ctx. With port 0 the kernel picks one; read it
// back from local_endpoint() and pass it to the next worker's call.
result<tcp_acceptor> open_listener(asio::io_context& ctx, const host_port& address,
                                   bool reuse_port);

// Resolves a configured host (an IP literal, or a name looked up once) to an address.
result<asio::ip::address> resolve_host(const std::string& host);

// True for 127.0.0.0/8, ::1 and v4-mapped loopback.
bool is_loopback(const asio::ip::address& address);

std::string to_string(const tcp::endpoint& ep);

}  // namespace cohort::net
