#pragma once
// Command-line options of cohort-loadgen: the simulated population and how hard
// and how long it is driven. Parsing is pure so it can be checked without a network.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/units.hpp"

namespace cohort::loadgen {

struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string path = "/profile";
  std::uint32_t users = 5000;
  basis_points internal_share = 200;  // 2%
  std::vector<std::uint32_t> beta_users;
  basis_points legacy_share = 1000;  // 10%
  basis_points anonymous_share = 0;
  double rate = 200.0;  // requests per second, all connections together
  std::uint32_t connections = 32;
  std::optional<duration> run_for;            // --duration
  std::optional<std::uint64_t> max_requests;  // --requests
  std::uint64_t seed = 1;
  duration report_every{1000};  // zero: no progress lines
  duration timeout{5000};       // per request: connect, write and the whole response
  bool json = false;
};

struct help_requested {};
struct usage_error {
  std::string message;
};
using parse_outcome = std::variant<options, help_requested, usage_error>;

const char* usage_text();
parse_outcome parse_options(const std::vector<std::string>& args);

}  // namespace cohort::loadgen
