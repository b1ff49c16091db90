#pragma once
// The units users write in configuration and on the admin API:
// durations ("250ms", "15s", "5m", "1h") and shares ("5%", "0.25%", 0.01% steps).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cohort {

using duration = std::chrono::milliseconds;

// A share of users in basis points: 10000 = 100%, 1 = 0.01%.
using basis_points = std::uint32_t;
inline constexpr basis_points full_share = 10000;

// nullopt when the text is not a duration; the caller names the place.
std::optional<duration> parse_duration(std::string_view text);
std::string format_duration(duration d);

// Accepts "5%", "0.25%", "100%"; at most two decimals; nullopt otherwise.
// Values above 100% parse (so the caller can say "above 100%").
std::optional<basis_points> parse_share(std::string_view text);
std::string format_share(basis_points bp);  // "5%", "0.25%"

// "127.0.0.1:8080", "[::1]:80", "localhost:9000" -> host and port.
struct host_port {
  std::string host;
  std::uint16_t port = 0;
};
std::optional<host_port> parse_host_port(std::string_view text);
std::string format_host_port(const host_port& hp);

}  // namespace cohort
