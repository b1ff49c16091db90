#include "proxy/trace_context.hpp"

#include <algorithm>

namespace cohort::proxy {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

void put_hex(char* out, std::uint64_t v) {
  for (int i = 15; i >= 0; --i) {
    out[i] = hex_digits[v & 15];
    v >>= 4;
  }
}

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool all_zero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '0'; });
}

// version 00 layout; later versions may append fields after the flags.
bool valid_traceparent(std::string_view v) {
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') {
    return false;
  }
  const auto version = v.substr(0, 2);
  const auto trace = v.substr(3, 32);
  const auto parent = v.substr(36, 16);
  const auto flags = v.substr(53, 2);
  if (!is_lower_hex(version) || version == "ff" || !is_lower_hex(trace) || all_zero(trace) ||
      !is_lower_hex(parent) || all_zero(parent) || !is_lower_hex(flags)) {
    return false;
  }
  return version != "00" || v.size() == 55;
}

}  // namespace

void trace_context::start(std::string_view incoming, std::uint64_t r1, std::uint64_t r2,
                          std::uint64_t r3) {
  char* h = header_.data();
  h[0] = '0';
  h[1] = '0';
  h[2] = '-';
  h[35] = '-';
  h[52] = '-';
  if (valid_traceparent(incoming)) {
    std::copy_n(incoming.data() + 3, 32, h + 3);
    std::copy_n(incoming.data() + 53, 2, h + 53);
  } else {
    put_hex(h + 3, r1);
    put_hex(h + 19, r2 == 0 ? 1 : r2);
    h[53] = '0';
    h[54] = '1';
  }
  put_hex(h + 36, r3 == 0 ? 1 : r3);
}

}  // namespace cohort::proxy
