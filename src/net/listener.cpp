#include "net/listener.hpp"

#include <sys/socket.h>

#include <boost/asio/ip/address.hpp>

namespace cohort::net {

result<asio::ip::address> resolve_host(const std::string& host) {
  error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (!ec) {
    return addr;
  }
  if (host == "localhost") {
    return asio::ip::address(asio::ip::address_v4::loopback());
  }
  asio::io_context ctx;
  tcp_resolver resolver(ctx);
  auto results = resolver.resolve(host, "", ec);
  if (ec || results.empty()) {
    return error{"cannot resolve host '" + host + "': " + ec.message()};
  }
  return results.begin()->endpoint().address();
}

result<tcp_acceptor> open_listener(asio::io_context& ctx, const host_port& address,
                                   bool reuse_port) {
  auto addr = resolve_host(address.host);
  if (!addr) {
    return addr.err();
  }
  const tcp::endpoint ep(*addr, address.port);
  tcp_acceptor acceptor(ctx);
  error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (!ec) {
    acceptor.set_option(tcp_acceptor::reuse_address(true), ec);
  }
  if (!ec && reuse_port) {
    const int one = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      ec = error_code(errno, boost::system::system_category());
    }
  }
  if (!ec) {
    acceptor.bind(ep, ec);
  }
  if (!ec) {
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return error{"cannot listen on " + format_host_port(address) + ": " + ec.message()};
  }
  return acceptor;
}

bool is_loopback(const asio::ip::address& address) {
  if (address.is_v4()) {
    return (address.to_v4().to_uint() >> 24) == 127;
  }
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    return (asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_uint() >> 24) == 127;
  }
  return v6.is_loopback();
}

std::string to_string(const tcp::endpoint& ep) {
  return format_host_port({ep.address().to_string(), ep.port()});
}

}  // namespace cohort::net
