#include "routing/request_fields.hpp"

#include "routing/ascii.hpp"

namespace cohort::routing {

std::optional<std::string_view> find_header(const request_view& request, std::string_view name) {
  for (const header_field& h : request.headers) {
    if (iequals(h.name, name)) {
      return h.value;
    }
  }
  return std::nullopt;
}

namespace {

std::optional<std::string_view> find_in_cookie_header(std::string_view line,
                                                      std::string_view name) {
  while (!line.empty()) {
    const std::size_t semi = line.find(';');
    const std::string_view pair = trim_spaces(line.substr(0, semi));
    line = semi == std::string_view::npos ? std::string_view{} : line.substr(semi + 1);
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      continue;  // not a cookie-pair: browsers skip it, so do we
    }
    if (trim_spaces(pair.substr(0, eq)) != name) {
      continue;
    }
    std::string_view value = trim_spaces(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string_view> find_cookie(const request_view& request, std::string_view name) {
  for (const header_field& h : request.headers) {
    if (iequals(h.name, "cookie")) {
      if (const auto v = find_in_cookie_header(h.value, name)) {
        return v;
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> find_query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) {
      continue;
    }
    return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
  }
  return std::nullopt;
}

}  // namespace cohort::routing
