#pragma once
// ASCII helpers for protocol text (header names, hosts, methods): HTTP names are
// ASCII and compare without regard to case; no locale may leak in.

#include <cstddef>
#include <string>
#include <string_view>

#include "common/header_field.hpp"

namespace cohort::routing {

constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) {
      return false;
    }
  }
  return true;
}

// `lower_suffix` must already be lower case.
constexpr bool iends_with(std::string_view s, std::string_view lower_suffix) {
  return s.size() >= lower_suffix.size() &&
         iequals(s.substr(s.size() - lower_suffix.size()), lower_suffix);
}

inline std::string to_lower_copy(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = ascii_lower(c);
  }
  return out;
}

}  // namespace cohort::routing
