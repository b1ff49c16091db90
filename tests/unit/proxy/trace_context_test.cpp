#include "proxy/trace_context.hpp"

#include <cstdio>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace cohort::proxy {
namespace {

std::string hex16(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// A new trace: every id is the hex of its random value, whatever the digits.
TEST(TraceContext, NewTraceFormatsTheRandomValues) {
  std::mt19937_64 rng(5);
  const std::uint64_t edges[] = {1,
                                 0x0123456789abcdefu,
                                 0xfedcba9876543210u,
                                 0xffffffffffffffffu,
                                 0x9999999999999999u,
                                 0xaaaaaaaaaaaaaaaau,
                                 0x00000000ffffffffu,
                                 0xffffffff00000000u};
  for (int i = 0; i < 2000; ++i) {
    const std::uint64_t r1 = i < 8 ? edges[i] : rng();
    const std::uint64_t r2 = i < 8 ? edges[7 - i] : rng();
    const std::uint64_t r3 = rng() | 1;
    trace_context t;
    t.start("", r1, r2, r3);
    EXPECT_EQ(t.traceparent(), "00-" + hex16(r1) + hex16(r2) + "-" + hex16(r3) + "-01");
    EXPECT_EQ(t.trace_id(), hex16(r1) + hex16(r2));
  }
}

TEST(TraceContext, ZeroIdsAreNeverSent) {
  trace_context t;
  t.start("", 0, 0, 0);
  EXPECT_EQ(t.traceparent(), "00-0000000000000000" + hex16(1) + "-" + hex16(1) + "-01");
}

TEST(TraceContext, KeepsAValidIncomingTraceAndStartsANewSpan) {
  const std::string incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  trace_context t;
  t.start(incoming, 7, 8, 0xabcdef);
  EXPECT_EQ(t.traceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-" + hex16(0xabcdef) + "-01");
  // Upper-case hex is not valid traceparent: a new trace starts.
  trace_context u;
  u.start("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", 7, 8, 9);
  EXPECT_EQ(u.trace_id(), hex16(7) + hex16(8));
}

}  // namespace
}  // namespace cohort::proxy
