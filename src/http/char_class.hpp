#pragma once
// Byte classes of RFC 9110 / 9112 as one lookup table, plus word-at-a-time
// scanning for the long runs (header values, targets) where most time goes.

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace cohort::http::detail {

enum char_flag : std::uint8_t {
  tchar = 1,        // token character (RFC 9110 5.6.2)
  field_char = 2,   // field-content: VCHAR, obs-text, SP, HTAB
  target_char = 4,  // request-target: VCHAR except '#'
  host_char = 8,    // reg-name / IP-literal / port characters of a Host value
  hex_digit = 16,
};

inline constexpr std::array<std::uint8_t, 256> char_table = [] {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    std::uint8_t f = 0;
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    const bool vchar = c > 0x20 && c < 0x7f;
    if (alpha || digit) {
      f |= tchar | host_char;
    }
    for (char s : std::string_view("!#$%&'*+-.^_`|~")) {
      if (c == static_cast<unsigned char>(s)) {
        f |= tchar;
      }
    }
    // Everything a host may hold; '/', '@', '?', '#', '\\' and spaces may not,
    // so a Host value cannot smuggle a path or userinfo into routing.
    for (char s : std::string_view("-._~!$&'()*+,;=%:[]")) {
      if (c == static_cast<unsigned char>(s)) {
        f |= host_char;
      }
    }
    if (vchar || c >= 0x80 || c == ' ' || c == '\t') {
      f |= field_char;
    }
    if (vchar && c != '#') {
      f |= target_char;
    }
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
      f |= hex_digit;
    }
    t[static_cast<std::size_t>(c)] = f;
  }
  return t;
}();

inline bool has(char c, char_flag f) {
  return (char_table[static_cast<unsigned char>(c)] & f) != 0;
}

inline unsigned hex_value(char c) {
  if (c <= '9') {
    return static_cast<unsigned>(c - '0');
  }
  return static_cast<unsigned>((c | 0x20) - 'a' + 10);
}

inline bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

namespace swar {
inline constexpr std::uint64_t ones = 0x0101010101010101ULL;
inline constexpr std::uint64_t highs = 0x8080808080808080ULL;
// Non-zero when some byte of x is below n (n <= 128); bytes >= 0x80 never count.
inline constexpr std::uint64_t any_below(std::uint64_t x, std::uint8_t n) {
  return (x - ones * n) & ~x & highs;
}
inline constexpr std::uint64_t any_equal(std::uint64_t x, std::uint8_t b) {
  const std::uint64_t y = x ^ (ones * b);
  return (y - ones) & ~y & highs;
}
inline std::uint64_t load(const char* p) {
  std::uint64_t x;
  std::memcpy(&x, p, sizeof x);
  return x;
}
// x with its ASCII capitals made small; every other byte (bytes >= 0x80
// included) as it was.
inline constexpr std::uint64_t lower(std::uint64_t x) {
  const std::uint64_t low7 = x & ~highs;
  const std::uint64_t from_a = low7 + ones * (0x80 - 'A');      // high bit: byte >= 'A'
  const std::uint64_t past_z = low7 + ones * (0x80 - 'Z' - 1);  // high bit: byte > 'Z'
  const std::uint64_t capital = (from_a ^ past_z) & ~x & highs;
  return x | (capital >> 2);  // 0x80 >> 2 == 0x20
}
// Copies n bytes from src to dst, ASCII capitals made small, eight at a time.
inline void lower_copy(char* dst, const char* src, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t x = lower(load(src + i));
    std::memcpy(dst + i, &x, sizeof x);
  }
  for (; i < n; ++i) {
    const char c = src[i];
    dst[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
  }
}
}  // namespace swar

#if defined(__SSE2__)
// Sixteen bytes at a time where SSE2 is there (every x86-64): a head's names
// and values are mostly shorter than 16 bytes, so one step usually finds the
// end where the word loops below take one or two words and a byte tail.
namespace simd {
using bytes = __m128i;
inline bytes load(const char* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
inline bytes eq(bytes x, char c) {
  return _mm_cmpeq_epi8(x, _mm_set1_epi8(c));
}
// lo <= x <= hi for lo, hi below 0x80; bytes >= 0x80 are never inside.
inline bytes within(bytes x, char lo, char hi) {
  return _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(static_cast<char>(lo - 1))),
                       _mm_cmplt_epi8(x, _mm_set1_epi8(static_cast<char>(hi + 1))));
}
// One bit per byte for which the lanes of m are set.
inline unsigned mask(bytes m) {
  return static_cast<unsigned>(_mm_movemask_epi8(m));
}
}  // namespace simd
#endif

// First byte at or after p that is not field-content (a CTL other than HTAB, or DEL).
// HTAB stops the word loop too; the byte loop then steps over it.
inline const char* skip_field_content(const char* p, const char* end) {
#if defined(__SSE2__)
  while (end - p >= 16) {
    const simd::bytes x = simd::load(p);
    // Below 0x20 unsigned (min(x, 0x1f) == x) but not HTAB, or DEL.
    const simd::bytes ctl = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x);
    const unsigned stop =
        (simd::mask(ctl) & ~simd::mask(simd::eq(x, '\t'))) | simd::mask(simd::eq(x, 0x7f));
    if (stop != 0) {
      return p + __builtin_ctz(stop);
    }
    p += 16;
  }
#endif
  while (end - p >= 8) {
    const std::uint64_t x = swar::load(p);
    if (swar::any_below(x, 0x20) | swar::any_equal(x, 0x7f)) {
      break;
    }
    p += 8;
  }
  while (p < end && has(*p, field_char)) {
    ++p;
  }
  return p;
}

// First byte at or after p that may not appear in a request-target.
inline const char* skip_target(const char* p, const char* end) {
#if defined(__SSE2__)
  while (end - p >= 16) {
    const simd::bytes x = simd::load(p);
    const unsigned ok = simd::mask(simd::within(x, 0x21, 0x7e)) & ~simd::mask(simd::eq(x, '#'));
    if (ok != 0xffff) {
      return p + __builtin_ctz(~ok);
    }
    p += 16;
  }
#endif
  while (end - p >= 8) {
    const std::uint64_t x = swar::load(p);
    if (swar::any_below(x, 0x21) | swar::any_equal(x, 0x7f) | (x & swar::highs) |
        swar::any_equal(x, '#')) {
      break;
    }
    p += 8;
  }
  while (p < end && has(*p, target_char)) {
    ++p;
  }
  return p;
}

inline const char* skip_tchars(const char* p, const char* end) {
#if defined(__SSE2__)
  while (end - p >= 16) {
    // Visible ASCII but not a delimiter: "(),/:;<=>?@[\]{} (RFC 9110 5.6.2).
    // Setting bit 0x20 folds '[' ']' onto '{' '}', and clearing bit 0 folds
    // ')' onto '('; the CTLs folded along are refused as invisible anyway.
    const simd::bytes x = simd::load(p);
    const simd::bytes folded = _mm_or_si128(x, _mm_set1_epi8(0x20));
    const simd::bytes even = _mm_and_si128(x, _mm_set1_epi8(static_cast<char>(0xfe)));
    const simd::bytes delimiter = _mm_or_si128(
        _mm_or_si128(_mm_or_si128(simd::eq(folded, '{'), simd::eq(folded, '}')),
                     _mm_or_si128(simd::eq(x, '\\'), simd::eq(even, '('))),
        _mm_or_si128(_mm_or_si128(simd::eq(x, '"'), simd::eq(x, ',')),
                     _mm_or_si128(simd::eq(x, '/'), simd::within(x, ':', '@'))));
    const unsigned ok = simd::mask(simd::within(x, 0x21, 0x7e)) & ~simd::mask(delimiter);
    if (ok != 0xffff) {
      return p + __builtin_ctz(~ok);
    }
    p += 16;
  }
#endif
  // Eight lookups and one branch per word: names are mostly whole words.
  while (end - p >= 8) {
    const auto* u = reinterpret_cast<const unsigned char*>(p);
    const auto all = char_table[u[0]] & char_table[u[1]] & char_table[u[2]] & char_table[u[3]] &
                     char_table[u[4]] & char_table[u[5]] & char_table[u[6]] & char_table[u[7]];
    if ((all & tchar) == 0) {
      break;
    }
    p += 8;
  }
  while (p < end && has(*p, tchar)) {
    ++p;
  }
  return p;
}

}  // namespace cohort::http::detail
