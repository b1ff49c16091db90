#pragma once
// A small asynchronous HTTP/1.1 client for the controller's own calls
// (webhooks, Prometheus queries): one request per connection, the whole
// response buffered (bounded), one deadline over everything.

#include <string>
#include <utility>
#include <vector>

#include "net/asio.hpp"

namespace cohort::net {

struct client_request {
  std::string method = "GET";
  std::string url;  // http://host:port/path?query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  duration timeout{5000};
};

struct client_response {
  bool completed = false;  // false: no usable response (see error)
  std::string error;       // "connection refused", "timed out after 5s", ...
  unsigned status = 0;
  std::string body;
};

awaitable<client_response> fetch(asio::io_context& ctx, client_request request);

// Percent-encodes a query parameter value.
std::string url_encode(std::string_view value);

}  // namespace cohort::net
