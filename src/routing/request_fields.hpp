#pragma once
// Reading named values out of a request view without copying: a header, a
// cookie, a query parameter. Each returns a view into the request's bytes.

#include <optional>
#include <string_view>

#include "routing/ascii.hpp"
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

// Calls f(name, value) for each cookie-pair of one Cookie header line, in
// order, until f returns true. Pairs without '=' are skipped, as browsers do.
template <class F>
void for_each_cookie(std::string_view line, F&& f) {
  // One pass per pair, no find(): memchr calls cost more than these short
  // lines. Same result as splitting on ';', trimming, then splitting on '='.
  const std::size_t n = line.size();
  std::size_t i = 0;
  while (i < n) {
    const std::size_t start = i;
    std::size_t eq = std::string_view::npos;
    while (i < n && line[i] != ';') {
      if (line[i] == '=' && eq == std::string_view::npos) {
        eq = i;
      }
      ++i;
    }
    const std::size_t stop = i;
    ++i;  // past the ';'
    if (eq == std::string_view::npos) {
      continue;
    }
    std::string_view value = trim_ows(line.substr(eq + 1, stop - eq - 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (f(trim_ows(line.substr(start, eq - start)), value)) {
      return;
    }
  }
}

// Calls f(name, value) for each parameter of a query string, in order, until
// f returns true.
template <class F>
void for_each_query_param(std::string_view query, F&& f) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    if (f(pair.substr(0, eq),
          eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1))) {
      return;
    }
  }
}

}  // namespace cohort::routing
