#pragma once
// What the gateway needs to know about gRPC to judge and time a call: is the
// request gRPC, which grpc-status did the call end with, does that status
// count against the version that served it, and how long may the call take
// (grpc-timeout). Pure: values and text in, values out.

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/units.hpp"
#include "http/message.hpp"

namespace cohort::http {

// The status codes the gateway names (https://grpc.github.io/grpc/core/md_doc_statuscodes.html).
namespace grpc_code {
inline constexpr std::uint32_t ok = 0;
inline constexpr std::uint32_t unknown = 2;
inline constexpr std::uint32_t deadline_exceeded = 4;
inline constexpr std::uint32_t internal = 13;
inline constexpr std::uint32_t unavailable = 14;
}  // namespace grpc_code

// "application/grpc", "application/grpc+proto", "application/grpc; charset=..."
// (case-insensitive); "application/grpc-web" is not gRPC over HTTP/2.
bool is_grpc(std::string_view content_type);

// A grpc-status value: decimal digits, at most 10; nullopt otherwise.
std::optional<std::uint32_t> parse_grpc_status(std::string_view value);

// The grpc-status field of a response head: a trailers-only response (an
// error answered at once) carries it there. nullopt when absent or invalid.
std::optional<std::uint32_t> grpc_status_in_head(const response_head& head);

// The grpc-status in trailers given as HTTP/1 field lines
// ("grpc-status: 0\r\ngrpc-message: ...\r\n"), as upstream_exchange::trailers() gives them.
std::optional<std::uint32_t> grpc_status_in_trailers(std::string_view field_lines);

// The status a finished call ended with: the trailers' when present, else the
// head's (trailers-only), else UNKNOWN (a gRPC response must carry one).
std::uint32_t grpc_final_status(const response_head& head, std::string_view trailer_lines);

enum class grpc_class : std::uint8_t {
  ok,            // 0
  server_error,  // UNAVAILABLE, INTERNAL, UNKNOWN, DEADLINE_EXCEEDED: the version failed
  client_error,  // every other code: the caller's problem, not a canary error
};
grpc_class classify_grpc_status(std::uint32_t status);
// For analysis: does this call count as a failure of the version that served it?
inline bool grpc_status_is_error(std::uint32_t status) {
  return classify_grpc_status(status) == grpc_class::server_error;
}

// grpc-timeout ("100m", "5S": 1 to 8 digits then one unit of H M S m u n) as
// milliseconds, rounded up so that a sub-millisecond budget is not zero.
// nullopt when malformed (the call then has no deadline of its own).
std::optional<duration> parse_grpc_timeout(std::string_view value);

}  // namespace cohort::http
