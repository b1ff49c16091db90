#pragma once
#include <cstdint>
#include <string_view>

namespace cohort {

// The fields the gateway acts on itself. The HTTP/1 parser names each field
// once, so forwarding and framing switch on this instead of comparing names
// again for every rule (http::id_of).
enum class field_id : std::uint8_t {
  unknown,  // not looked at: a field built by hand or by another parser
  other,    // looked at, none of the below
  host,
  connection,
  keep_alive,
  proxy_connection,
  te,
  upgrade,
  expect,
  content_length,
  transfer_encoding,
  proxy_authenticate,
  proxy_authorization,
  x_forwarded_for,
  x_forwarded_proto,
  traceparent,
};

// One name/value pair of a message head, as views into the bytes it came from.
struct header_field {
  std::string_view name;
  std::string_view value;
  field_id id = field_id::unknown;
};

// Without the optional whitespace (SP, HTAB) around it (RFC 9110 5.6.3).
constexpr std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace cohort
