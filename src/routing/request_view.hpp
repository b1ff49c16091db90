#pragma once
// What the router may look at in a request: views, no ownership, no parsing
// beyond what the codec already did.

#include <span>
#include <string_view>

#include "common/header_field.hpp"

namespace cohort::routing {

struct request_view {
  std::string_view method;
  std::string_view path;   // without the query
  std::string_view query;  // without '?'; empty if none
  std::string_view host;   // Host header, may carry a port
  std::span<const header_field> headers;
  std::string_view client_ip;  // textual peer address
};

}  // namespace cohort::routing
