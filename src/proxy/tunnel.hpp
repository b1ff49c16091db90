#pragma once
// A byte tunnel between a client and an upstream connection after both agreed
// to switch protocols (a WebSocket 101): each direction copies through one
// bounded buffer (a read waits until the previous write is done, so a slow
// reader slows its writer instead of growing memory); one timer closes the
// tunnel when no byte has moved either way for idle_timeout, or when asked
// to (rollback, drain). The tunnel does not know what it carries.

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "net/asio.hpp"
#include "net/duplex.hpp"
#include "proxy/tunnel_registry.hpp"

namespace cohort::proxy {

enum class tunnel_end : std::uint8_t {
  closed,             // both sides finished (or one reset the connection)
  idle_timeout,       // no byte either way for idle_timeout
  closed_by_gateway,  // close_after (a rollback moved its user, or the gateway drains)
};
std::string_view to_string(tunnel_end e);

class tunnel final : public closable_tunnel {
 public:
  static constexpr std::size_t buffer_size = 16384;  // per direction

  tunnel(net::asio::io_context& io, net::duplex& client, net::duplex& upstream,
         duration idle_timeout);

  // Copies both ways until both sides have finished sending or the tunnel is
  // closed. The bytes each side sent that were already read past the heads
  // go first. Leaves both streams open: the caller closes them.
  net::awaitable<tunnel_end> run(std::string_view from_client, std::string_view from_upstream);

  void close_after(duration grace) override;

  std::uint64_t bytes_from_client() const { return from_client_; }
  std::uint64_t bytes_from_upstream() const { return from_upstream_; }

 private:
  using clock = std::chrono::steady_clock;

  net::awaitable<void> pump(net::duplex& from, net::duplex& to, std::string_view pending,
                            char* buffer, std::uint64_t& counter);
  net::awaitable<void> pumps(std::string_view from_client, std::string_view from_upstream);
  net::awaitable<void> watch();
  void stop(tunnel_end why);

  net::duplex& client_;
  net::duplex& upstream_;
  net::steady_timer timer_;
  duration idle_timeout_;
  clock::time_point last_activity_;
  clock::time_point forced_ = clock::time_point::max();
  bool stopping_ = false;
  bool done_ = false;
  tunnel_end end_ = tunnel_end::closed;
  std::uint64_t from_client_ = 0;
  std::uint64_t from_upstream_ = 0;
  std::array<char, buffer_size> up_buffer_;    // client -> upstream
  std::array<char, buffer_size> down_buffer_;  // upstream -> client
};

}  // namespace cohort::proxy
