#include "http/field_line.hpp"

#include "http/char_class.hpp"

namespace cohort::http::detail {

line_status scan_field_line(const char* p, const char* end, field_line& out) {
  const char* const name_begin = p;
  p = skip_tchars(p, end);
  if (p == end) {
    return line_status::incomplete;
  }
  // Anything but a colon here is a byte that no token may hold: whitespace
  // before the colon (RFC 9112 5.1 makes that a 400), obs-fold, CR, LF, CTL.
  if (*p != ':' || p == name_begin) {
    return line_status::bad;
  }
  out.name = std::string_view(name_begin, static_cast<std::size_t>(p - name_begin));
  ++p;
  while (p < end && is_ows(*p)) {
    ++p;
  }
  const char* const value_begin = p;
  p = skip_field_content(p, end);
  if (p == end) {
    return line_status::incomplete;
  }
  if (*p != '\r') {
    return line_status::bad;  // NUL, other CTLs, DEL, bare LF
  }
  if (p + 1 == end) {
    return line_status::incomplete;
  }
  if (p[1] != '\n') {
    return line_status::bad;  // bare CR
  }
  const char* value_end = p;
  while (value_end > value_begin && is_ows(value_end[-1])) {
    --value_end;
  }
  out.value = std::string_view(value_begin, static_cast<std::size_t>(value_end - value_begin));
  out.next = p + 2;
  return line_status::complete;
}

}  // namespace cohort::http::detail
