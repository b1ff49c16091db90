#pragma once
// The admin listener: a small HTTP/1.1 server on the main thread for the REST
// API, /metrics and the dashboard. Requests are buffered (bounded); handlers
// are plain functions from request to response.

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "common/units.hpp"
#include "net/asio.hpp"

namespace cohort::admin {

struct request {
  std::string method;
  std::string path;
  std::string query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool from_loopback = false;

  std::string_view header(std::string_view name) const;  // "" when absent
};

struct response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  // The connection becomes a server-sent events stream fed by broadcast().
  bool event_stream = false;
  // Extra header fields (name, value), such as Cache-Control.
  std::vector<std::pair<std::string, std::string>> headers = {};
};

response json_error(unsigned status, std::string_view message,
                    const std::vector<std::string>& details = {});

using handler = std::function<response(const request&)>;

class server {
 public:
  // token: the bearer token mutating calls from non-loopback peers must carry
  // (empty: such calls are refused).
  server(net::asio::io_context& ctx, handler h, std::string token);
  ~server();

  result<bool> open(const host_port& address);
  net::tcp::endpoint local_endpoint() const;
  void start();
  void stop();

  // Sends one server-sent event to every open event stream.
  void broadcast(std::string_view event, std::string_view data);
  std::size_t subscribers() const { return subscribers_.size(); }

 private:
  struct subscriber;
  net::awaitable<void> accept_loop();
  net::awaitable<void> serve(net::tcp_socket socket);
  net::awaitable<void> stream_events(net::tcp_socket& socket);

  net::asio::io_context& ctx_;
  handler handler_;
  std::string token_;
  std::unique_ptr<net::tcp_acceptor> acceptor_;
  std::vector<subscriber*> subscribers_;
  bool stopped_ = false;
};

}  // namespace cohort::admin
