#include "http/grpc.hpp"

#include <limits>

#include "http/chunked.hpp"

namespace cohort::http {

bool is_grpc(std::string_view content_type) {
  constexpr std::string_view base = "application/grpc";
  content_type = trim_ows(content_type);
  if (content_type.size() < base.size() || !iequals(content_type.substr(0, base.size()), base)) {
    return false;
  }
  const std::string_view rest = content_type.substr(base.size());
  // "+proto", "+json", ...: a message format; ";": parameters. "-web" is another protocol.
  return rest.empty() || rest.front() == '+' || rest.front() == ';' || rest.front() == ' ';
}

std::optional<std::uint32_t> parse_grpc_status(std::string_view value) {
  value = trim_ows(value);
  if (value.empty() || value.size() > 10) {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  for (const char c : value) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > std::numeric_limits<std::uint32_t>::max()) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(v);
}

std::optional<std::uint32_t> grpc_status_in_head(const response_head& head) {
  const header* h = head.find("grpc-status");
  if (h == nullptr) {
    return std::nullopt;
  }
  return parse_grpc_status(h->value);
}

std::optional<std::uint32_t> grpc_status_in_trailers(std::string_view field_lines) {
  std::optional<std::uint32_t> status;
  bool seen = false;
  for_each_trailer(field_lines, [&](std::string_view name, std::string_view value) {
    if (!seen && iequals(name, "grpc-status")) {
      seen = true;
      status = parse_grpc_status(value);
    }
  });
  return status;
}

std::uint32_t grpc_final_status(const response_head& head, std::string_view trailer_lines) {
  if (const auto s = grpc_status_in_trailers(trailer_lines)) {
    return *s;
  }
  if (const auto s = grpc_status_in_head(head)) {
    return *s;
  }
  return grpc_code::unknown;
}

grpc_class classify_grpc_status(std::uint32_t status) {
  switch (status) {
    case grpc_code::ok:
      return grpc_class::ok;
    case grpc_code::unknown:
    case grpc_code::deadline_exceeded:
    case grpc_code::internal:
    case grpc_code::unavailable:
      return grpc_class::server_error;
    default:
      return grpc_class::client_error;
  }
}

std::optional<duration> parse_grpc_timeout(std::string_view value) {
  value = trim_ows(value);
  if (value.size() < 2 || value.size() > 9) {
    return std::nullopt;
  }
  const std::string_view digits = value.substr(0, value.size() - 1);
  std::uint64_t n = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  // n < 10^8, so n * 3'600'000 (hours in ms) fits easily in 64 bits.
  std::uint64_t ms = 0;
  switch (value.back()) {
    case 'H':
      ms = n * 3'600'000;
      break;
    case 'M':
      ms = n * 60'000;
      break;
    case 'S':
      ms = n * 1'000;
      break;
    case 'm':
      ms = n;
      break;
    case 'u':
      ms = (n + 999) / 1'000;
      break;
    case 'n':
      ms = (n + 999'999) / 1'000'000;
      break;
    default:
      return std::nullopt;
  }
  return duration(static_cast<duration::rep>(ms));
}

}  // namespace cohort::http
