#pragma once
// W3C Trace Context (traceparent) for the request path: keep the caller's
// trace id, start a new span for the hop to the upstream, or start a trace
// when the request has none. Fixed-size, no allocation.

#include <array>
#include <cstdint>
#include <string_view>

namespace cohort::proxy {

class trace_context {
 public:
  // incoming: the request's traceparent value, or empty. r1, r2: random values.
  void start(std::string_view incoming, std::uint64_t r1, std::uint64_t r2, std::uint64_t r3);

  // "00-<trace id>-<span id>-<flags>" to send upstream.
  std::string_view traceparent() const { return {header_.data(), header_.size()}; }
  std::string_view trace_id() const { return {header_.data() + 3, 32}; }

 private:
  std::array<char, 55> header_{};
};

}  // namespace cohort::proxy
