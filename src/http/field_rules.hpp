#pragma once
// The fields that decide framing and connection handling (Content-Length,
// Transfer-Encoding, Host, Connection, Upgrade, Expect), gathered while a head
// is parsed so that the request and response rules can be applied at the end.

#include <cstdint>
#include <string_view>

#include "http/message.hpp"
#include "http/parser.hpp"

namespace cohort::http::detail {

struct field_facts {
  bool has_content_length = false;
  std::uint64_t content_length = 0;
  unsigned te_codings = 0;       // codings listed over all Transfer-Encoding fields
  unsigned te_chunked = 0;       // how many of them are "chunked"
  bool te_last_chunked = false;  // the final coding is "chunked"
  unsigned host_count = 0;
  std::string_view host;
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool connection_upgrade = false;
  bool has_upgrade = false;
  bool expect_continue = false;
};

// Names h (h.id) and folds it into facts. Returns the error the field proves on its own
// (malformed Content-Length, differing lengths, malformed coding list, bad Host
// characters), or parse_error::none. Host is only looked at when is_request.
parse_error note_field(header& h, bool is_request, field_facts& facts);

// Content-Length value: a comma list of equal decimal numbers ("5", "5, 5").
// False on an empty element, a non-digit, overflow, or differing numbers.
bool parse_content_length(std::string_view value, std::uint64_t& out);

}  // namespace cohort::http::detail
