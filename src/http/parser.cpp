// Choices made where RFC 9112 leaves room, all on the strict side because a
// gateway that frames a message differently from its backend enables smuggling:
// - Empty lines before a request line are skipped (RFC 9112 2.2); nothing else is lenient.
// - The request-target is visible ASCII without '#': raw UTF-8 or a fragment is a 400.
// - Absolute-form: only http/https, no userinfo; its authority is the host even
//   when a Host header is present (RFC 9112 3.2.2), and it stands in for a missing Host.
// - Host values may not hold '/', '@', '?', '#', '\\' or whitespace (bad_header).
// - Transfer-Encoding in a request must be exactly one "chunked" element over all
//   its fields: empty list elements and parameters are refused, not skipped.
// - Responses: a coding list not ending in chunked is until_close (RFC 9112 6.3),
//   chunked twice or TE in HTTP/1.0 is an error, TE with Content-Length too.
// - Responses with status outside 100..599 are bad_status_line.
// - Expect and Upgrade are ignored in HTTP/1.0 requests (RFC 9110 10.1.1, 7.8).
#include "http/parser.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "http/char_class.hpp"
#include "http/field_line.hpp"
#include "http/field_rules.hpp"

namespace cohort::http {

namespace {

using detail::field_facts;
using detail::line_status;

// What a step of the parse found: keep going, the input ends first, or an error.
struct outcome {
  parse_status status = parse_status::complete;
  parse_error error = parse_error::none;
};

constexpr outcome ok{};
constexpr outcome incomplete{parse_status::incomplete, parse_error::none};
constexpr outcome fail(parse_error e) {
  return {parse_status::error, e};
}

std::string_view view(const char* b, const char* e) {
  return {b, static_cast<std::size_t>(e - b)};
}

// Eight bytes of text as one word, for a compare in one instruction.
std::uint64_t load_word(const char (&text)[9]) {
  std::uint64_t word;
  std::memcpy(&word, text, sizeof word);
  return word;
}

// "HTTP/" DIGIT "." DIGIT at p, checked as far as the input goes so that
// garbage is refused before the line is complete. bad is returned for a
// malformed version, unsupported_version for a well-formed one other than 1.0/1.1.
outcome parse_version(const char*& p, const char* end, parse_error bad, version& ver) {
  // Nearly every message says HTTP/1.1 or HTTP/1.0: one 8-byte compare
  // instead of the byte loop below (~90 instructions per head).
  if (end - p >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    if (word == load_word("HTTP/1.1") || word == load_word("HTTP/1.0")) {
      ver = p[7] == '1' ? version::http11 : version::http10;
      p += 8;
      return ok;
    }
  }
  static constexpr std::string_view pattern = "HTTP/0.0";
  const std::size_t avail =
      std::min<std::size_t>(pattern.size(), static_cast<std::size_t>(end - p));
  for (std::size_t i = 0; i < avail; ++i) {
    const bool digit = pattern[i] == '0';
    if (digit ? (p[i] < '0' || p[i] > '9') : p[i] != pattern[i]) {
      return fail(bad);
    }
  }
  if (avail < pattern.size()) {
    return incomplete;
  }
  if (p[5] != '1' || (p[7] != '0' && p[7] != '1')) {
    return fail(parse_error::unsupported_version);
  }
  ver = p[7] == '1' ? version::http11 : version::http10;
  p += pattern.size();
  return ok;
}

// CRLF at p; a bare CR or anything else is `bad`.
outcome expect_crlf(const char*& p, const char* end, parse_error bad) {
  if (p == end) {
    return incomplete;
  }
  if (*p != '\r') {
    return fail(bad);
  }
  if (p + 1 == end) {
    return incomplete;
  }
  if (p[1] != '\n') {
    return fail(bad);
  }
  p += 2;
  return ok;
}

// Header lines up to and including the empty line. Each field goes to headers
// and, through note_field, to facts; check(facts) may refuse the head early.
template <class Check>
outcome parse_fields(const char*& p, const char* end, const parse_limits& limits, bool is_request,
                     std::vector<header>& headers, field_facts& facts, Check&& check) {
  for (;;) {
    if (p == end) {
      return incomplete;
    }
    if (*p == '\r') {
      return expect_crlf(p, end, parse_error::bad_header);
    }
    if (headers.size() == limits.max_headers) {
      return fail(parse_error::too_many_headers);
    }
    detail::field_line line;
    switch (detail::scan_field_line(p, end, line)) {
      case line_status::incomplete:
        return incomplete;
      case line_status::bad:
        return fail(parse_error::bad_header);
      case line_status::complete:
        break;
    }
    headers.push_back(header{line.name, line.value});
    if (const parse_error e = detail::note_field(headers.back(), is_request, facts);
        e != parse_error::none) {
      return fail(e);
    }
    if (const parse_error e = check(facts); e != parse_error::none) {
      return fail(e);
    }
    p = line.next;
  }
}

// Runs parse(p, end) on the first max_head_bytes of data and turns its outcome
// into a parse_result: running out of input past the limit is head_too_large.
template <class Parse>
parse_result run(std::string_view data, const parse_limits& limits, Parse&& parse) {
  const std::size_t window = std::min(data.size(), limits.max_head_bytes);
  const char* const begin = data.data();
  const char* p = begin;
  const outcome o = parse(p, begin + window);
  parse_result r;
  r.status = o.status;
  r.error = o.error;
  if (o.status == parse_status::incomplete && data.size() > limits.max_head_bytes) {
    r.status = parse_status::error;
    r.error = parse_error::head_too_large;
  } else if (o.status == parse_status::complete) {
    r.consumed = static_cast<std::size_t>(p - begin);
  }
  return r;
}

// Splits the request-target into path and query and, for absolute-form, finds
// the authority. Origin-form is the common case; absolute-form is what proxies
// are sent; "*" only with OPTIONS, authority-form only with CONNECT.
bool split_target(std::string_view method, std::string_view target, request_head& out,
                  std::string_view& authority) {
  std::string_view rest = target;
  if (target.front() != '/') {
    if (target == "*" && method == "OPTIONS") {
      out.path = target;
      return true;
    }
    if (method == "CONNECT") {
      authority = target;  // host:port, checked by whoever serves CONNECT
      return true;
    }
    const std::size_t sep = target.find("://");
    if (sep == std::string_view::npos) {
      return false;
    }
    const std::string_view scheme = target.substr(0, sep);
    if (!iequals(scheme, "http") && !iequals(scheme, "https")) {
      return false;
    }
    rest = target.substr(sep + 3);
    const std::size_t auth_end = rest.find_first_of("/?");
    authority = rest.substr(0, auth_end);
    if (authority.empty() || authority.find('@') != std::string_view::npos) {
      return false;  // userinfo is deprecated and a classic way to confuse routing
    }
    rest = auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);
  }
  const std::size_t q = rest.find('?');
  out.path = rest.substr(0, q);
  out.query = q == std::string_view::npos ? std::string_view{} : rest.substr(q + 1);
  if (out.path.empty()) {
    out.path = "/";  // "http://h?x" and "http://h" ask for the root
  }
  return true;
}

outcome parse_request(const char*& p, const char* end, const parse_limits& limits,
                      request_head& out) {
  // RFC 9112 2.2: ignore empty lines before the request line (some clients
  // send a CRLF after a body).
  while (p < end && *p == '\r') {
    if (const outcome o = expect_crlf(p, end, parse_error::bad_request_line);
        o.status != parse_status::complete) {
      return o;
    }
  }
  const char* const method_begin = p;
  p = detail::skip_tchars(p, end);
  if (p == end) {
    return incomplete;
  }
  if (p == method_begin || *p != ' ') {
    return fail(parse_error::bad_request_line);
  }
  out.method = view(method_begin, p);
  const char* const target_begin = ++p;
  p = detail::skip_target(p, end);
  if (p == end) {
    return incomplete;
  }
  if (p == target_begin || *p != ' ') {
    return fail(parse_error::bad_request_line);
  }
  out.target = view(target_begin, p);
  ++p;
  if (const outcome o = parse_version(p, end, parse_error::bad_request_line, out.ver);
      o.status != parse_status::complete) {
    return o;
  }
  if (const outcome o = expect_crlf(p, end, parse_error::bad_request_line);
      o.status != parse_status::complete) {
    return o;
  }

  field_facts facts;
  const bool http10 = out.ver == version::http10;
  const outcome fields =
      parse_fields(p, end, limits, true, out.headers, facts, [http10](const field_facts& f) {
        if (f.te_codings != 0 && (http10 || f.te_codings != 1 || f.te_chunked != 1)) {
          return parse_error::bad_transfer_encoding;
        }
        if (f.te_codings != 0 && f.has_content_length) {
          return parse_error::length_and_chunked;
        }
        if (f.host_count > 1) {
          return parse_error::multiple_hosts;
        }
        return parse_error::none;
      });
  if (fields.status != parse_status::complete) {
    return fields;
  }

  std::string_view authority;
  if (!split_target(out.method, out.target, out, authority)) {
    return fail(parse_error::bad_request_line);
  }
  // RFC 9112 3.2.2: the authority of an absolute-form target wins over Host.
  const bool absolute = out.target.front() != '/' && out.method != "CONNECT";
  if (absolute && !authority.empty()) {
    out.host = authority;
  } else if (facts.host_count == 1) {
    out.host = facts.host;
  } else if (!http10) {
    return fail(parse_error::missing_host);
  }

  if (facts.te_codings != 0) {
    out.framing = body_framing::chunked;
  } else if (facts.has_content_length) {
    out.framing = body_framing::content_length;
    out.content_length = facts.content_length;
  }
  out.keep_alive =
      http10 ? (facts.connection_keep_alive && !facts.connection_close) : !facts.connection_close;
  // HTTP/1.0 predates both; RFC 9110 10.1.1 and 7.8 say to ignore them there.
  out.expect_continue = !http10 && facts.expect_continue;
  out.upgrade = !http10 && facts.connection_upgrade && facts.has_upgrade;
  return ok;
}

outcome parse_response(const char*& p, const char* end, const parse_limits& limits,
                       bool is_head_request, response_head& out) {
  if (const outcome o = parse_version(p, end, parse_error::bad_status_line, out.ver);
      o.status != parse_status::complete) {
    return o;
  }
  // SP 3DIGIT, checked byte by byte as they arrive.
  for (int i = 0; i < 4; ++i) {
    if (p == end) {
      return incomplete;
    }
    const bool good = i == 0 ? *p == ' ' : (*p >= '0' && *p <= '9');
    if (!good) {
      return fail(parse_error::bad_status_line);
    }
    if (i > 0) {
      out.status = out.status * 10 + static_cast<unsigned>(*p - '0');
    }
    ++p;
  }
  if (out.status < 100 || out.status > 599) {
    return fail(parse_error::bad_status_line);  // RFC 9110 15: outside 100..599 is invalid
  }
  if (p == end) {
    return incomplete;
  }
  if (*p == ' ') {
    const char* const reason_begin = ++p;
    p = detail::skip_field_content(p, end);
    out.reason = view(reason_begin, p);
  }
  if (const outcome o = expect_crlf(p, end, parse_error::bad_status_line);
      o.status != parse_status::complete) {
    return o;
  }

  field_facts facts;
  const bool http10 = out.ver == version::http10;
  const outcome fields =
      parse_fields(p, end, limits, false, out.headers, facts, [http10](const field_facts& f) {
        // Chunked twice is forbidden to senders (RFC 9112 7); in HTTP/1.0 the
        // framing is faulty (RFC 9112 6.1). Either way no length can be trusted.
        if (f.te_codings != 0 && (http10 || f.te_chunked > 1)) {
          return parse_error::bad_transfer_encoding;
        }
        if (f.te_codings != 0 && f.has_content_length) {
          return parse_error::length_and_chunked;
        }
        return parse_error::none;
      });
  if (fields.status != parse_status::complete) {
    return fields;
  }

  out.content_length = facts.content_length;
  const bool no_body =
      is_head_request || out.status < 200 || out.status == 204 || out.status == 304;
  if (no_body) {
    out.framing = body_framing::none;
  } else if (facts.te_codings != 0) {
    // A coding list that does not end in chunked is delimited by the close (RFC 9112 6.3).
    out.framing = facts.te_last_chunked ? body_framing::chunked : body_framing::until_close;
  } else if (facts.has_content_length) {
    out.framing = body_framing::content_length;
  } else {
    out.framing = body_framing::until_close;
  }
  out.keep_alive =
      out.framing != body_framing::until_close &&
      (http10 ? (facts.connection_keep_alive && !facts.connection_close) : !facts.connection_close);
  return ok;
}

}  // namespace

unsigned status_for(parse_error e) {
  switch (e) {
    case parse_error::head_too_large:
    case parse_error::too_many_headers:
      return 431;
    case parse_error::unsupported_version:
      return 505;
    case parse_error::bad_status_line:
      return 502;
    case parse_error::none:
      return 500;  // not an error: asking for its status is the caller's bug
    default:
      return 400;
  }
}

std::string_view to_string(parse_error e) {
  switch (e) {
    case parse_error::none:
      return "no error";
    case parse_error::bad_request_line:
      return "malformed request line (method SP target SP HTTP/1.x CRLF)";
    case parse_error::bad_status_line:
      return "malformed status line (HTTP/1.x SP 3DIGIT SP reason CRLF)";
    case parse_error::unsupported_version:
      return "HTTP version other than 1.0 and 1.1";
    case parse_error::bad_header:
      return "malformed header field (whitespace before colon, obs-fold, bare CR or LF, "
             "control character, or bad Host)";
    case parse_error::head_too_large:
      return "message head larger than the limit";
    case parse_error::too_many_headers:
      return "more header fields than the limit";
    case parse_error::bad_content_length:
      return "invalid or conflicting Content-Length";
    case parse_error::bad_transfer_encoding:
      return "Transfer-Encoding other than a single final chunked, or in HTTP/1.0";
    case parse_error::length_and_chunked:
      return "both Content-Length and Transfer-Encoding";
    case parse_error::missing_host:
      return "HTTP/1.1 request without Host";
    case parse_error::multiple_hosts:
      return "more than one Host header";
  }
  return "unknown parse error";
}

parse_result parse_request_head(std::string_view data, const parse_limits& limits,
                                request_head& out) {
  out.clear();
  return run(data, limits,
             [&](const char*& p, const char* end) { return parse_request(p, end, limits, out); });
}

parse_result parse_response_head(std::string_view data, const parse_limits& limits,
                                 bool is_head_request, response_head& out) {
  out.clear();
  return run(data, limits, [&](const char*& p, const char* end) {
    return parse_response(p, end, limits, is_head_request, out);
  });
}

}  // namespace cohort::http
