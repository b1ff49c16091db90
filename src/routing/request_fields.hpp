#pragma once
// Reading named values out of a request view without copying: a header, a
// cookie, a query parameter. Each returns a view into the request's bytes.

#include <optional>
#include <string_view>

#include "routing/request_view.hpp"

namespace cohort::routing {

// The first header with this name (names compare case-insensitively). When a
// request repeats a header, only the first one counts: matching on a value a
// client can append to would let it pick its subset.
std::optional<std::string_view> find_header(const request_view& request, std::string_view name);

// The cookie with this exact (case-sensitive) name, from all Cookie headers
// (HTTP/2 clients may split them). The first occurrence wins; a value in
// double quotes is returned without them.
std::optional<std::string_view> find_cookie(const request_view& request, std::string_view name);

// The first query parameter with this exact name; "flag" without '=' is present
// with an empty value. Names and values are compared as sent: no
// percent-decoding, so "user%5Fid" is not "user_id".
std::optional<std::string_view> find_query_param(std::string_view query, std::string_view name);

}  // namespace cohort::routing
