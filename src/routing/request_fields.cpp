#include "routing/request_fields.hpp"

namespace cohort::routing {

std::optional<std::string_view> find_header(const request_view& request, std::string_view name) {
  for (const header_field& h : request.headers) {
    if (iequals(h.name, name)) {
      return h.value;
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> find_cookie(const request_view& request, std::string_view name) {
  std::optional<std::string_view> found;
  for (const header_field& h : request.headers) {
    if (iequals(h.name, "cookie")) {
      for_each_cookie(h.value, [&](std::string_view n, std::string_view v) {
        if (n == name) {
          found = v;
        }
        return found.has_value();
      });
      if (found) {
        return found;
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> find_query_param(std::string_view query, std::string_view name) {
  std::optional<std::string_view> found;
  for_each_query_param(query, [&](std::string_view n, std::string_view v) {
    if (n == name) {
      found = v;
    }
    return found.has_value();
  });
  return found;
}

}  // namespace cohort::routing
