#pragma once
#include <string_view>

namespace cohort {

// One name/value pair of a message head, as views into the bytes it came from.
struct header_field {
  std::string_view name;
  std::string_view value;
};

// Without the optional whitespace (SP, HTAB) around it (RFC 9110 5.6.3).
constexpr std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace cohort
