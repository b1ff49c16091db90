#pragma once
// HTTP/1.1 message head parsing (RFC 9110 / 9112), strict about everything that
// could let two parsers disagree on where a message ends (request smuggling).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/message.hpp"

namespace cohort::http {

enum class parse_status : std::uint8_t { incomplete, complete, error };

enum class parse_error : std::uint8_t {
  none,
  bad_request_line,       // 400
  bad_status_line,        // (responses) 502
  unsupported_version,    // 505 (anything but HTTP/1.0 and HTTP/1.1)
  bad_header,             // 400: space before colon, obs-fold, bare CR or LF, bad name char, NUL
  head_too_large,         // 431: head exceeds max_head_bytes
  too_many_headers,       // 431
  bad_content_length,     // 400: not digits, overflow, differing duplicates
  bad_transfer_encoding,  // 400: anything but a single final "chunked"; chunked in HTTP/1.0
  length_and_chunked,     // 400: both Content-Length and Transfer-Encoding
  missing_host,           // 400: HTTP/1.1 request without Host
  multiple_hosts,         // 400
};

// Status code a gateway answers with for a request parse error.
unsigned status_for(parse_error e);
std::string_view to_string(parse_error e);

struct parse_limits {
  std::size_t max_head_bytes = 65536;
  std::size_t max_headers = 100;
};

struct parse_result {
  parse_status status = parse_status::incomplete;
  parse_error error = parse_error::none;
  std::size_t consumed = 0;  // with complete: the size of the head, including the final CRLF CRLF
};

// Parses the request head at the start of data. Incomplete when the head is not
// all there yet (the caller reads more and calls again with the longer data);
// error (and head_too_large) as soon as the bytes seen already prove it. A head
// of more than limits.max_head_bytes with no end in sight is head_too_large.
// Line endings must be CRLF: a bare LF or a bare CR is bad_header / bad_request_line.
parse_result parse_request_head(std::string_view data, const parse_limits& limits,
                                request_head& out);

// Same for a response. is_head_request / status decide whether a body follows
// (HEAD, 1xx, 204, 304 have none); a response without length or chunked and
// with a body is until_close.
parse_result parse_response_head(std::string_view data, const parse_limits& limits,
                                 bool is_head_request, response_head& out);

}  // namespace cohort::http
