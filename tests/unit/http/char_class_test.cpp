// The fast scanners of char_class.hpp (16 bytes at a time with SSE2, then 8,
// then one) stop exactly where a byte-by-byte walk over the class table stops:
// for every byte value, at every position of a run and every start alignment.

#include "http/char_class.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace cohort::http::detail {
namespace {

const char* by_table(const char* p, const char* end, char_flag f) {
  while (p < end && has(*p, f)) {
    ++p;
  }
  return p;
}

struct scanner {
  const char* name;
  const char* (*skip)(const char*, const char*);
  char_flag flag;
  char filler;  // a byte of the class
};

const scanner scanners[] = {
    {"skip_tchars", skip_tchars, tchar, 'k'},
    {"skip_target", skip_target, target_char, '/'},
    {"skip_field_content", skip_field_content, field_char, 'v'},
};

TEST(CharClass, ScannersStopAtTheFirstByteOutsideTheirClass) {
  for (const auto& s : scanners) {
    for (int b = 0; b < 256; ++b) {
      for (std::size_t at = 0; at < 40; ++at) {
        for (std::size_t from = 0; from < 4; ++from) {
          std::string run(from + 40, s.filler);
          run[from + at] = static_cast<char>(b);
          const char* begin = run.data() + from;
          const char* end = run.data() + run.size();
          ASSERT_EQ(s.skip(begin, end) - begin, by_table(begin, end, s.flag) - begin)
              << s.name << " byte " << b << " at " << at << " from " << from;
        }
      }
    }
  }
}

TEST(CharClass, ScannersAgreeOnRandomText) {
  std::uint64_t state = 42;
  auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<unsigned>(state >> 33);
  };
  // Mostly class bytes, so runs are long enough to cross 8- and 16-byte steps.
  const std::string common = "abcXYZ019-._~!$&'*+^`|/?=%#:;@ \t\"(),[]{}\\<>";
  for (int round = 0; round < 20000; ++round) {
    std::string text(next() % 48, 'a');
    for (auto& c : text) {
      c = next() % 16 == 0 ? static_cast<char>(next() % 256) : common[next() % common.size()];
    }
    const char* begin = text.data();
    const char* end = begin + text.size();
    for (const auto& s : scanners) {
      ASSERT_EQ(s.skip(begin, end), by_table(begin, end, s.flag)) << s.name << " '" << text << "'";
    }
  }
}

}  // namespace
}  // namespace cohort::http::detail
