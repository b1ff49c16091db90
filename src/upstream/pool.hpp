#pragma once
// Upstream connections of one worker: per endpoint, a stack of idle keep-alive
// connections and the number of requests in flight (for least-request
// balancing). Owned by one worker thread: no locks.

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

namespace cohort::upstream {

using net::awaitable;
using net::error_code;
using net::tcp;

struct connection;

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
  bool reused = false;  // came from the idle stack: it may have been closed by the peer
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
  explicit pool(net::asio::io_context& ctx) : ctx_(ctx) {}

  // Re-indexes endpoints for a new snapshot (idle connections survive: pools
  // are keyed by address, and by service for TLS endpoints). tls: the
  // contexts published with snap (null: none). Call whenever the worker's
  // snapshot changes.
  void attach(const routing::snapshot& snap, const net::tls_contexts* tls);

  // Picks an endpoint of a subset of the attached snapshot, by the service's
  // policy, among those not ejected; `avoid` (an endpoint that just failed
  // this request) is taken only when nothing else is left.
  endpoint_state* pick(std::size_t service, std::size_t subset, config::lb_policy lb,
                       steady_time now, const endpoint_state* avoid = nullptr);

  // Endpoints of a subset that the pick may take (not ejected).
  std::size_t in_rotation(std::size_t service, std::size_t subset, steady_time now) const;

  // The result of one exchange with ep, for outlier detection: failure is a
  // 5xx, a gateway error or a connect failure. True when ep was ejected now.
  bool report(std::size_t service, std::size_t subset, endpoint_state& ep, bool failure,
              steady_time now, const config::outlier_config& policy);

  // The breaker of a subset of the attached snapshot (null when out of
  // range). It lives as long as the pool, across snapshots.
  circuit_breaker* breaker(std::size_t service, std::size_t subset);

  // An idle connection to ep, or a new one (bounded by connect_timeout,
  // the TLS handshake included) when the breaker (may be null) lets one more
  // connect start.
  awaitable<acquire_result> acquire(endpoint_state& ep, duration connect_timeout,
                                    circuit_breaker* breaker);
  // A fresh connection, for a retry after a reused one turned out closed.
  awaitable<acquire_result> connect(endpoint_state& ep, duration connect_timeout,
                                    circuit_breaker* breaker);

  // Gives a connection back after a complete exchange; reusable: keep it idle.
  void release(std::unique_ptr<connection> conn, bool reusable);

  std::size_t idle_count() const;

 private:
  net::asio::io_context& ctx_;
  // Keyed by "service/subset"; never erased, so connections and exchanges may
  // keep pointers. Declared before endpoints_: idle connections report to
  // their breaker when destroyed.
  std::unordered_map<std::string, std::unique_ptr<circuit_breaker>> breakers_;
  std::unordered_map<std::string, std::unique_ptr<endpoint_state>> endpoints_;
  std::vector<std::vector<subset_endpoints>> by_service_;           // [service][subset]
  std::vector<std::vector<circuit_breaker*>> breakers_by_service_;  // [service][subset]
  std::uint64_t round_robin_ = 0;
  static constexpr std::size_t max_idle_per_endpoint = 128;
};

}  // namespace cohort::upstream
