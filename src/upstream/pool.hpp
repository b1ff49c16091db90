#pragma once
// Upstream connections of one worker: per endpoint, a stack of idle keep-alive
// connections and the number of requests in flight (for least-request
// balancing). Owned by one worker thread: no locks.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/asio.hpp"
#include "net/duplex.hpp"
#include "net/tls_context.hpp"
#include "routing/snapshot.hpp"
#include "upstream/circuit_breaker.hpp"
#include "upstream/outlier.hpp"
#include "upstream/shared_table.hpp"
#include "upstream/token_bucket.hpp"

namespace cohort::upstream {

using net::awaitable;
using net::error_code;
using net::tcp;

struct connection;
class h2_connection;

struct endpoint_state {
  std::string key;   // "host:port"
  std::string host;  // as configured: the name TLS verifies unless server_name says otherwise
  tcp::endpoint address;
  bool resolved = false;
  // The service's TLS as last attached (new connections use it); null: plain TCP.
  std::shared_ptr<net::client_tls> tls;
  std::uint32_t outstanding = 0;
  // Kept as whole connection objects so that taking one from the pool
  // allocates nothing. Most recently used last.
  std::vector<std::unique_ptr<connection>> idle;
  outlier_state outlier;  // this worker's view of its health
  // The active health checks' verdict, shared by all workers (null: never checked).
  const std::atomic<bool>* health = nullptr;
  // No subset with users lists it any more (or the snapshot dropped it): its
  // connections are closed instead of kept idle.
  bool drain = false;

  bool healthy() const { return health == nullptr || health->load(std::memory_order_relaxed); }
  // May the pick take it: healthy and not ejected.
  bool available(steady_time now) const { return healthy() && !outlier.ejected(now); }
  // HTTP/2 services: connections that multiplex streams (h2_connection.hpp);
  // a connection leaves the list when it closes or drains.
  std::vector<std::shared_ptr<h2_connection>> h2;
};

// The endpoints of one subset, in snapshot order.
using subset_endpoints = std::vector<endpoint_state*>;

struct connection {
  connection(net::duplex s, endpoint_state* ep, circuit_breaker* b)
      : stream(std::move(s)), endpoint(ep), breaker(b) {}
  // Counted open in its subset's breaker from connect to destruction.
  ~connection() {
    if (breaker != nullptr) {
      breaker->connection_closed();
    }
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  net::duplex stream;
  endpoint_state* endpoint = nullptr;
  // The breaker of the subset that opened it (an endpoint shared by two
  // subsets keeps counting against the first one).
  circuit_breaker* breaker = nullptr;
  std::shared_ptr<net::client_tls> tls;  // the context its TLS session was made with
  bool reused = false;       // came from the idle stack: it may have been closed by the peer
  steady_time idle_since{};  // when it went back to the idle stack
};

enum class connect_failure : std::uint8_t { none, refused, timeout, unresolved, tls, other };

struct acquire_result {
  std::unique_ptr<connection> conn;  // null on failure
  connect_failure failure = connect_failure::none;
  error_code ec;
  breaker_kind overflow = breaker_kind::none;  // a new connection was needed but a breaker is open
  // Why a TLS connect failed, for the client's 502 body ("TLS handshake with
  // 127.0.0.1:9443 failed: certificate verify failed: ...").
  std::string reason = {};
};

class pool {
 public:
  // shared: health flags and rate limiters shared with the other workers
  // (null: every endpoint healthy, no rate limit).
  explicit pool(net::asio::io_context& ctx, shared_table* shared = nullptr)
      : ctx_(ctx), shared_(shared) {}
  // HTTP/2 connections may outlive the pool in their coroutines: they are
  // told to forget it (endpoint, breaker) first.
  ~pool();
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  // Re-indexes endpoints for a new snapshot (idle connections survive: pools
  // are keyed by address, and by service for TLS endpoints). tls: the
  // contexts published with snap (null: none). Call whenever the worker's
  // snapshot changes. Endpoints that no subset with users lists any more are
  // drained: their idle connections are closed now, their busy ones when
  // released.
  void attach(const routing::snapshot& snap, const net::tls_contexts* tls = nullptr);

  // Picks an endpoint of a subset of the attached snapshot, by the service's
  // policy, among those healthy and not ejected; `avoid` (an endpoint that
  // just failed this request) is taken only when nothing else is left.
  endpoint_state* pick(std::size_t service, std::size_t subset, config::lb_policy lb,
                       steady_time now, const endpoint_state* avoid = nullptr);

  // Endpoints of a subset that the pick may take (healthy, not ejected).
  std::size_t in_rotation(std::size_t service, std::size_t subset, steady_time now) const;

  // The result of one exchange with ep, for outlier detection: failure is a
  // 5xx, a gateway error or a connect failure. True when ep was ejected now.
  bool report(std::size_t service, std::size_t subset, endpoint_state& ep, bool failure,
              steady_time now, const config::outlier_config& policy);

  // The breaker of a subset of the attached snapshot (null when out of
  // range). It lives as long as the pool, across snapshots.
  circuit_breaker* breaker(std::size_t service, std::size_t subset);

  // The process-wide rate limiter of a subset (null: unlimited).
  token_bucket* limiter(std::size_t service, std::size_t subset) const;

  // An idle connection to ep, or a new one (bounded by connect_timeout,
  // the TLS handshake included) when the breaker (may be null) lets one more
  // connect start.
  awaitable<acquire_result> acquire(endpoint_state& ep, duration connect_timeout,
                                    circuit_breaker* breaker);
  // An idle connection to ep (marked reused), or null; never suspends, so the
  // common case needs no coroutine frame.
  std::unique_ptr<connection> take_idle(endpoint_state& ep);
  // A fresh connection, for a retry after a reused one turned out closed.
  awaitable<acquire_result> connect(endpoint_state& ep, duration connect_timeout,
                                    circuit_breaker* breaker);

  // Gives a connection back after a complete exchange; reusable: keep it idle
  // (for at most the attached snapshot's gateway.limits.idle_timeout).
  void release(std::unique_ptr<connection> conn, bool reusable);
  // Closes the idle connections released before cutoff; returns how many.
  // A timer does this for the idle timeout; this is its step.
  std::size_t close_idle_before(steady_time cutoff);

  std::size_t idle_count() const;
  // Idle connections to one endpoint ("host:port"); 0 when unknown.
  std::size_t idle_count(const std::string& endpoint_key) const;

 private:
  net::asio::io_context& ctx_;
  shared_table* shared_;
  // Keyed by "service/subset"; never erased, so connections and exchanges may
  // keep pointers. Declared before endpoints_: idle connections report to
  // their breaker when destroyed.
  std::unordered_map<std::string, std::unique_ptr<circuit_breaker>> breakers_;
  std::unordered_map<std::string, std::unique_ptr<endpoint_state>> endpoints_;
  std::vector<std::vector<subset_endpoints>> by_service_;           // [service][subset]
  std::vector<std::vector<circuit_breaker*>> breakers_by_service_;  // [service][subset]
  std::vector<std::vector<token_bucket*>> limiters_by_service_;     // [service][subset]
  std::uint64_t round_robin_ = 0;
  // Idle connections close after this long unused (gateway.limits.idle_timeout):
  // a burst's connections do not stay open for good once traffic falls.
  duration idle_timeout_{60000};
  net::steady_timer sweep_timer_{ctx_};
  bool sweep_armed_ = false;
  // The sweep's handler may run after the pool is gone (cancelled at
  // destruction): it checks this first.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  void arm_sweep(steady_time at);
  // Above the concurrency a worker usually carries to one endpoint: a cap
  // below it closes connections after every burst and reopens them at the
  // next (128 made 9% of requests connect anew at 160 HTTP/2 streams).
  static constexpr std::size_t max_idle_per_endpoint = 1024;
};

}  // namespace cohort::upstream
