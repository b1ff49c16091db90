#pragma once
// Circuit breakers of one subset, as seen by one worker: counts of requests in
// flight, connects in progress and open connections, checked against the
// worker's share of the configured limits. Pure and single-threaded: every
// worker has its own, so the request path shares nothing.

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "config/config.hpp"

namespace cohort::upstream {

// The breaker that refused a request (the `breaker` label of the overflow counter).
enum class breaker_kind : std::uint8_t { none, max_connections, max_pending, max_requests };

inline std::string_view to_string(breaker_kind k) {
  switch (k) {
    case breaker_kind::max_connections:
      return "max_connections";
    case breaker_kind::max_pending:
      return "max_pending";
    case breaker_kind::max_requests:
      return "max_requests";
    case breaker_kind::none:
      break;
  }
  return "none";
}

inline constexpr std::uint32_t unlimited = std::numeric_limits<std::uint32_t>::max();

struct breaker_limits {
  std::uint32_t max_connections = unlimited;
  std::uint32_t max_pending = unlimited;
  std::uint32_t max_requests = unlimited;
};

// One worker's share of a configured limit: ceil(limit / workers), so the sum
// over the workers is at least the limit and no worker gets zero.
inline std::uint32_t worker_share(std::optional<std::uint32_t> limit, unsigned workers) {
  if (!limit) {
    return unlimited;
  }
  const std::uint64_t w = workers == 0 ? 1 : workers;
  return static_cast<std::uint32_t>((std::uint64_t{*limit} + w - 1) / w);
}

inline breaker_limits per_worker(const config::circuit_breaker_config& c, unsigned workers) {
  return {worker_share(c.max_connections, workers), worker_share(c.max_pending, workers),
          worker_share(c.max_requests, workers)};
}

class circuit_breaker {
 public:
  // Limits may change on a reload; the counts of what is in flight survive.
  void set_limits(const breaker_limits& l) { limits_ = l; }
  const breaker_limits& limits() const { return limits_; }

  // One more request to the subset, unless max_requests are in flight.
  bool try_start_request() {
    if (requests_ >= limits_.max_requests) {
      return false;
    }
    ++requests_;
    return true;
  }
  void end_request() { requests_ -= requests_ > 0 ? 1 : 0; }

  // May a new connection be opened now? none when yes, else the breaker that
  // is open. A connect counts as pending and as a connection while in progress.
  breaker_kind try_start_connect() {
    if (pending_ >= limits_.max_pending) {
      return breaker_kind::max_pending;
    }
    if (connections_ >= limits_.max_connections) {
      return breaker_kind::max_connections;
    }
    ++pending_;
    ++connections_;
    return breaker_kind::none;
  }
  // The connect ended; opened: a connection now exists (closed later with connection_closed()).
  void end_connect(bool opened) {
    pending_ -= pending_ > 0 ? 1 : 0;
    if (!opened) {
      connection_closed();
    }
  }
  void connection_closed() { connections_ -= connections_ > 0 ? 1 : 0; }

  std::uint32_t requests() const { return requests_; }
  std::uint32_t pending() const { return pending_; }
  std::uint32_t connections() const { return connections_; }

 private:
  breaker_limits limits_;
  std::uint32_t requests_ = 0;
  std::uint32_t pending_ = 0;
  std::uint32_t connections_ = 0;
};

}  // namespace cohort::upstream
