#pragma once
// HTTP message heads as views into the bytes they were parsed from. A head is
// only valid while the buffer it was parsed from is unchanged.

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/header_field.hpp"
#include "http/char_class.hpp"

namespace cohort::http {

enum class version : std::uint8_t { http10, http11 };

// Values have optional whitespace around them removed.
using header = header_field;

// Case-insensitive ASCII comparison, for header names and tokens.
// Inline: it runs for every header of every message (hop-by-hop checks, lookups).
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  const std::size_t n = a.size();
  if (n >= 8) {
    // Eight bytes at a time; the last word overlaps the one before it.
    for (std::size_t i = 0; i + 8 < n; i += 8) {
      if (detail::swar::lower(detail::swar::load(a.data() + i)) !=
          detail::swar::lower(detail::swar::load(b.data() + i))) {
        return false;
      }
    }
    return detail::swar::lower(detail::swar::load(a.data() + n - 8)) ==
           detail::swar::lower(detail::swar::load(b.data() + n - 8));
  }
  for (std::size_t i = 0; i < n; ++i) {
    const char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] | 0x20) : a[i];
    const char y = (b[i] >= 'A' && b[i] <= 'Z') ? static_cast<char>(b[i] | 0x20) : b[i];
    if (x != y) {
      return false;
    }
  }
  return true;
}

using cohort::trim_ows;

// How the body of a message is delimited (RFC 9112 section 6).
enum class body_framing : std::uint8_t {
  none,            // no body
  content_length,  // exactly content_length bytes
  chunked,         // Transfer-Encoding: chunked
  until_close,     // responses only: read until the peer closes
};

struct request_head {
  std::string_view method;
  std::string_view target;  // as sent: origin-form "/a/b?x=1" (absolute-form is accepted too)
  std::string_view path;    // target without the query, "/a/b"
  std::string_view query;   // after '?', without it; empty if none
  version ver = version::http11;
  std::vector<header> headers;  // in arrival order, duplicates kept

  // Derived while parsing.
  std::string_view host;  // the Host header (or the authority of an absolute-form target)
  body_framing framing = body_framing::none;
  std::uint64_t content_length = 0;
  bool keep_alive = true;        // after Connection / version rules
  bool expect_continue = false;  // Expect: 100-continue
  bool upgrade = false;          // Connection: upgrade with an Upgrade header

  const header* find(std::string_view name) const;  // first header of that name
  void clear();                                     // keeps the capacity of headers
};

struct response_head {
  version ver = version::http11;
  unsigned status = 0;
  std::string_view reason;
  std::vector<header> headers;

  body_framing framing = body_framing::none;
  std::uint64_t content_length = 0;
  bool keep_alive = true;

  const header* find(std::string_view name) const;
  void clear();
};

}  // namespace cohort::http
