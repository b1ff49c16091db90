// Circuit breaker counting: per-worker shares of the limits, admission of
// requests and connects, and the counts going back down.

#include "upstream/circuit_breaker.hpp"

#include <gtest/gtest.h>

namespace cohort::upstream {
namespace {

TEST(CircuitBreaker, WorkerShareRoundsUp) {
  EXPECT_EQ(worker_share(100, 4), 25u);
  EXPECT_EQ(worker_share(101, 4), 26u);
  EXPECT_EQ(worker_share(4, 2), 2u);
  EXPECT_EQ(worker_share(1, 8), 1u);  // never zero: every worker can send one
  EXPECT_EQ(worker_share(7, 1), 7u);
  EXPECT_EQ(worker_share(std::nullopt, 4), unlimited);
}

TEST(CircuitBreaker, PerWorkerLimitsFromConfig) {
  config::circuit_breaker_config c;
  c.max_requests = 10;
  c.max_pending = 3;
  const auto l = per_worker(c, 2);
  EXPECT_EQ(l.max_requests, 5u);
  EXPECT_EQ(l.max_pending, 2u);
  EXPECT_EQ(l.max_connections, unlimited);
}

TEST(CircuitBreaker, RequestsOverflowAtTheLimitAndRecover) {
  circuit_breaker b;
  b.set_limits({unlimited, unlimited, 2});
  EXPECT_TRUE(b.try_start_request());
  EXPECT_TRUE(b.try_start_request());
  EXPECT_FALSE(b.try_start_request());
  EXPECT_EQ(b.requests(), 2u);  // a refusal counts nothing
  b.end_request();
  EXPECT_TRUE(b.try_start_request());
  b.end_request();
  b.end_request();
  b.end_request();  // one too many never wraps around
  EXPECT_EQ(b.requests(), 0u);
}

TEST(CircuitBreaker, PendingConnectsAreBounded) {
  circuit_breaker b;
  b.set_limits({unlimited, 1, unlimited});
  EXPECT_EQ(b.try_start_connect(), breaker_kind::none);
  EXPECT_EQ(b.try_start_connect(), breaker_kind::max_pending);
  b.end_connect(true);
  EXPECT_EQ(b.pending(), 0u);
  EXPECT_EQ(b.connections(), 1u);
  EXPECT_EQ(b.try_start_connect(), breaker_kind::none);
}

TEST(CircuitBreaker, ConnectionsCountFromConnectToClose) {
  circuit_breaker b;
  b.set_limits({2, unlimited, unlimited});
  EXPECT_EQ(b.try_start_connect(), breaker_kind::none);
  EXPECT_EQ(b.try_start_connect(), breaker_kind::none);
  // Two connects in progress already fill max_connections.
  EXPECT_EQ(b.try_start_connect(), breaker_kind::max_connections);
  b.end_connect(false);  // a failed connect leaves no connection behind
  EXPECT_EQ(b.connections(), 1u);
  b.end_connect(true);
  EXPECT_EQ(b.connections(), 1u);
  EXPECT_EQ(b.try_start_connect(), breaker_kind::none);
  b.end_connect(true);
  EXPECT_EQ(b.try_start_connect(), breaker_kind::max_connections);
  b.connection_closed();
  EXPECT_EQ(b.connections(), 1u);
  EXPECT_EQ(b.try_start_connect(), breaker_kind::none);
}

TEST(CircuitBreaker, NewLimitsKeepTheCounts) {
  circuit_breaker b;
  b.set_limits({unlimited, unlimited, 3});
  EXPECT_TRUE(b.try_start_request());
  EXPECT_TRUE(b.try_start_request());
  b.set_limits({unlimited, unlimited, 2});
  EXPECT_FALSE(b.try_start_request());
  EXPECT_EQ(b.requests(), 2u);
  EXPECT_EQ(to_string(breaker_kind::max_requests), "max_requests");
}

}  // namespace
}  // namespace cohort::upstream
