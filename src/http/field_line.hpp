#pragma once
// One "name: value CRLF" field line (RFC 9112 section 5), shared by message heads
// and chunked trailers so both are held to the same rules.

#include <cstdint>
#include <string_view>

namespace cohort::http::detail {

enum class line_status : std::uint8_t { complete, incomplete, bad };

struct field_line {
  std::string_view name;
  std::string_view value;      // without the optional whitespace around it
  const char* next = nullptr;  // first byte after the line's CRLF
};

// Scans the field line starting at p (which must not be the empty line).
// bad: empty name, a non-token byte in the name (whitespace before the colon
// included), obs-fold (line starts with SP/HTAB), a CTL or DEL in the value, a
// bare CR or a bare LF. incomplete: the line does not end before end.
line_status scan_field_line(const char* p, const char* end, field_line& out);

}  // namespace cohort::http::detail
