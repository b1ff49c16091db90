#pragma once
// HTTP message heads as views into the bytes they were parsed from. A head is
// only valid while the buffer it was parsed from is unchanged.

#include <cstdint>
#include <cstring>
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

using cohort::field_id;
using cohort::trim_ows;

namespace detail {
// name (whose size is N - 1) equals the lower-case literal known, ignoring
// ASCII case. The size is a constant, so the words unroll; only name is lowered.
template <std::size_t N>
inline bool is_known_name(std::string_view name, const char (&known)[N]) {
  constexpr std::size_t n = N - 1;
  if constexpr (n >= 8) {
    for (std::size_t i = 0; i + 8 < n; i += 8) {
      if (swar::lower(swar::load(name.data() + i)) != swar::load(known + i)) {
        return false;
      }
    }
    return swar::lower(swar::load(name.data() + n - 8)) == swar::load(known + n - 8);
  } else {
    std::uint64_t a = 0;
    std::uint64_t b = 0;
    std::memcpy(&a, name.data(), n);
    std::memcpy(&b, known, n);
    return swar::lower(a) == b;
  }
}
}  // namespace detail

// Which of the fields the gateway acts on name is; field_id::other for the rest.
// By length first: most names are rejected without comparing a byte.
inline field_id identify_field(std::string_view name) {
  const auto is = [name](const auto& known) { return detail::is_known_name(name, known); };
  switch (name.size()) {
    case 2:
      return is("te") ? field_id::te : field_id::other;
    case 4:
      return is("host") ? field_id::host : field_id::other;
    case 6:
      return is("expect") ? field_id::expect : field_id::other;
    case 7:
      return is("upgrade") ? field_id::upgrade : field_id::other;
    case 10:
      return is("connection")   ? field_id::connection
             : is("keep-alive") ? field_id::keep_alive
                                : field_id::other;
    case 11:
      return is("traceparent") ? field_id::traceparent : field_id::other;
    case 14:
      return is("content-length") ? field_id::content_length : field_id::other;
    case 15:
      return is("x-forwarded-for") ? field_id::x_forwarded_for : field_id::other;
    case 16:
      return is("proxy-connection") ? field_id::proxy_connection : field_id::other;
    case 17:
      return is("transfer-encoding")   ? field_id::transfer_encoding
             : is("x-forwarded-proto") ? field_id::x_forwarded_proto
                                       : field_id::other;
    case 18:
      return is("proxy-authenticate") ? field_id::proxy_authenticate : field_id::other;
    case 19:
      return is("proxy-authorization") ? field_id::proxy_authorization : field_id::other;
    default:
      return field_id::other;
  }
}

// h's id: as the parser recorded it, or looked up now for a field it did not see.
inline field_id id_of(const header& h) {
  return h.id != field_id::unknown ? h.id : identify_field(h.name);
}

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
