#include "proxy/trace_context.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace cohort::proxy {

namespace {

// Eight lower-case hex digits of x, most significant first, computed in one
// 64-bit word: every request formats three ids (48 digits), and a loop of a
// table lookup per digit was ~2% of the request path's instructions.
void put_hex32(char* out, std::uint32_t x) {
  std::uint64_t v = x;
  // Spread the nibbles so byte k holds nibble k (nibble 7, the most significant, in byte 7).
  v = ((v & 0xFFFF0000u) << 16) | (v & 0xFFFFu);
  v = ((v & 0x0000FF000000FF00u) << 8) | (v & 0x000000FF000000FFu);
  v = ((v & 0x00F000F000F000F0u) << 4) | (v & 0x000F000F000F000Fu);
  // Bit 4 of nibble + 6 is set exactly for 10..15, the letters; no byte carries.
  const std::uint64_t letters = ((v + 0x0606060606060606u) >> 4) & 0x0101010101010101u;
  v += 0x3030303030303030u + letters * static_cast<std::uint64_t>('a' - '0' - 10);
  if constexpr (std::endian::native == std::endian::little) {
    v = __builtin_bswap64(v);  // the most significant digit goes first in memory
  }
  std::memcpy(out, &v, sizeof v);
}

void put_hex(char* out, std::uint64_t v) {
  put_hex32(out, static_cast<std::uint32_t>(v >> 32));
  put_hex32(out + 8, static_cast<std::uint32_t>(v));
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
