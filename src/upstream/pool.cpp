#include "upstream/pool.hpp"

#include <algorithm>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "common/monotonic.hpp"
#include "net/listener.hpp"
#include "upstream/drain.hpp"
#include "upstream/h2_connection.hpp"

namespace cohort::upstream {

namespace asio = net::asio;

pool::~pool() {
  *alive_ = false;
  for (auto& [key, ep] : endpoints_) {
    // abandon() may not touch the list: take it first.
    auto conns = std::move(ep->h2);
    for (auto& c : conns) {
      c->abandon();
    }
  }
}

void pool::attach(const routing::snapshot& snap, const net::tls_contexts* tls) {
  // Limits are split over the workers; the worker count cannot change on a reload.
  const unsigned configured = snap.source().gateway.workers;
  const unsigned workers =
      configured != 0 ? configured : std::max(1u, std::thread::hardware_concurrency());
  idle_timeout_ = snap.source().gateway.limits.idle_timeout;
  by_service_.clear();
  by_service_.reserve(snap.services().size());
  breakers_by_service_.clear();
  breakers_by_service_.reserve(snap.services().size());
  limiters_by_service_.clear();
  limiters_by_service_.reserve(snap.services().size());
  const auto in_use = subsets_in_use(snap);
  // Drained unless a subset with users lists it (an endpoint shared by a
  // rolled-back canary and stable keeps its connections).
  for (auto& [key, ep] : endpoints_) {
    ep->drain = true;
  }
  const auto& configs = snap.source().services;
  for (std::size_t si = 0; si < snap.services().size(); ++si) {
    const auto& svc = snap.services()[si];
    std::shared_ptr<net::client_tls> client;
    if (tls != nullptr && si < tls->services.size()) {
      client = tls->services[si];
    }
    auto& subsets = by_service_.emplace_back();
    subsets.reserve(svc.subsets.size());
    auto& breakers = breakers_by_service_.emplace_back();
    breakers.reserve(svc.subsets.size());
    auto& limiters = limiters_by_service_.emplace_back();
    limiters.reserve(svc.subsets.size());
    const auto limits = per_worker(svc.breakers, workers);
    for (std::size_t bi = 0; bi < svc.subsets.size(); ++bi) {
      const auto& sub = svc.subsets[bi];
      // Snapshot services and subsets are in the file's order.
      const config::subset_config* sub_config =
          si < configs.size() && bi < configs[si].subsets.size() ? &configs[si].subsets[bi]
                                                                 : nullptr;
      limiters.push_back(shared_ != nullptr && sub_config != nullptr
                             ? shared_->limiter(svc.name, sub.name, sub_config->rate_limit)
                             : nullptr);
      const bool used = in_use[si][bi];
      auto& breaker = breakers_[svc.name + "/" + sub.name];
      if (!breaker) {
        breaker = std::make_unique<circuit_breaker>();
      }
      breaker->set_limits(limits);
      breakers.push_back(breaker.get());
      auto& eps = subsets.emplace_back();
      eps.reserve(sub.endpoints.size());
      for (const auto& ep : sub.endpoints) {
        // A TLS endpoint is pooled per service: its connections were verified
        // with that service's settings, and never mix with plain ones.
        auto& slot = endpoints_[client ? ep.key + " tls " + svc.name : ep.key];
        if (!slot) {
          slot = std::make_unique<endpoint_state>();
          slot->key = ep.key;
          slot->drain = true;  // until a subset with users lists it
          slot->host = ep.address.host;
          if (auto addr = net::resolve_host(ep.address.host)) {
            slot->address = tcp::endpoint(*addr, ep.address.port);
            slot->resolved = true;
          }
          if (shared_ != nullptr) {
            slot->health = shared_->health_flag(ep.key);
          }
        }
        if (used) {
          slot->drain = false;
        }
        slot->tls = client;
        eps.push_back(slot.get());
      }
    }
  }
  for (auto& [key, ep] : endpoints_) {
    if (ep->drain) {
      for (auto& conn : ep->idle) {
        conn->stream.close();
      }
      ep->idle.clear();
    }
  }
}

endpoint_state* pool::pick(std::size_t service, std::size_t subset, config::lb_policy lb,
                           steady_time now, const endpoint_state* avoid) {
  if (service >= by_service_.size() || subset >= by_service_[service].size()) {
    return nullptr;
  }
  const auto& eps = by_service_[service][subset];
  if (eps.empty()) {
    return nullptr;
  }
  const std::size_t start = round_robin_++ % eps.size();
  endpoint_state* best = nullptr;
  endpoint_state* fallback = nullptr;  // `avoid`, when it is the only one in rotation
  for (std::size_t i = 0; i < eps.size(); ++i) {
    endpoint_state* candidate = eps[(start + i) % eps.size()];
    if (!candidate->available(now)) {
      continue;
    }
    if (candidate == avoid) {
      fallback = candidate;
      continue;
    }
    if (lb == config::lb_policy::round_robin) {
      return candidate;
    }
    // Least outstanding requests; ties go round robin so idle endpoints share load.
    if (best == nullptr || candidate->outstanding < best->outstanding) {
      best = candidate;
    }
  }
  return best != nullptr ? best : fallback;
}

std::size_t pool::in_rotation(std::size_t service, std::size_t subset, steady_time now) const {
  if (service >= by_service_.size() || subset >= by_service_[service].size()) {
    return 0;
  }
  std::size_t n = 0;
  for (const endpoint_state* ep : by_service_[service][subset]) {
    n += ep->available(now) ? 1 : 0;
  }
  return n;
}

bool pool::report(std::size_t service, std::size_t subset, endpoint_state& ep, bool failure,
                  steady_time now, const config::outlier_config& policy) {
  if (!ep.outlier.record(failure, now, policy)) {
    return false;
  }
  if (service >= by_service_.size() || subset >= by_service_[service].size()) {
    return false;
  }
  const auto& eps = by_service_[service][subset];
  // The share counts outlier ejections only: endpoints out for failed health
  // checks do not stop another from being ejected.
  const auto ejected = static_cast<std::size_t>(std::count_if(
      eps.begin(), eps.end(), [&](const endpoint_state* e) { return e->outlier.ejected(now); }));
  if (!may_eject(ejected, eps.size(), policy.max_ejection)) {
    return false;
  }
  ep.outlier.eject(now, policy);
  return true;
}

circuit_breaker* pool::breaker(std::size_t service, std::size_t subset) {
  if (service >= breakers_by_service_.size() || subset >= breakers_by_service_[service].size()) {
    return nullptr;
  }
  return breakers_by_service_[service][subset];
}

token_bucket* pool::limiter(std::size_t service, std::size_t subset) const {
  if (service >= limiters_by_service_.size() || subset >= limiters_by_service_[service].size()) {
    return nullptr;
  }
  return limiters_by_service_[service][subset];
}

std::unique_ptr<connection> pool::take_idle(endpoint_state& ep) {
  if (ep.idle.empty()) {
    return nullptr;
  }
  auto conn = std::move(ep.idle.back());
  ep.idle.pop_back();
  conn->reused = true;
  return conn;
}

awaitable<acquire_result> pool::acquire(endpoint_state& ep, duration connect_timeout,
                                        circuit_breaker* breaker) {
  if (auto conn = take_idle(ep)) {
    co_return acquire_result{std::move(conn), connect_failure::none, {}};
  }
  co_return co_await connect(ep, connect_timeout, breaker);
}

awaitable<acquire_result> pool::connect(endpoint_state& ep, duration connect_timeout,
                                        circuit_breaker* breaker) {
  using namespace asio::experimental::awaitable_operators;
  if (!ep.resolved) {
    co_return acquire_result{nullptr, connect_failure::unresolved, {}};
  }
  if (breaker != nullptr) {
    if (const auto open = breaker->try_start_connect(); open != breaker_kind::none) {
      co_return acquire_result{nullptr, connect_failure::none, {}, open};
    }
  }
  // Ends the pending connect on every way out; a connection, once made, is
  // counted until destroyed.
  struct pending_guard {
    circuit_breaker* breaker;
    bool opened = false;
    ~pending_guard() {
      if (breaker != nullptr) {
        breaker->end_connect(opened);
      }
    }
  } pending{breaker};
  net::tcp_socket socket(ctx_);
  net::steady_timer timer(ctx_, connect_timeout);
  auto outcome = co_await (socket.async_connect(ep.address, net::use_nothrow) ||
                           timer.async_wait(net::use_nothrow));
  if (outcome.index() == 1) {
    co_return acquire_result{nullptr, connect_failure::timeout, asio::error::timed_out};
  }
  const auto [ec] = std::get<0>(outcome);
  if (ec) {
    const auto failure =
        ec == asio::error::connection_refused ? connect_failure::refused : connect_failure::other;
    co_return acquire_result{nullptr, failure, ec};
  }
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  if (!ep.tls) {
    pending.opened = true;
    co_return acquire_result{
        std::make_unique<connection>(net::duplex(std::move(socket)), &ep, breaker),
        connect_failure::none,
        {}};
  }
  // TLS: the handshake shares the connect's deadline (the timer runs on).
  std::shared_ptr<net::client_tls> tls = ep.tls;
  net::duplex stream(std::move(socket), tls->context());
  if (!tls->prepare(stream.tls()->native_handle(), ep.host)) {
    co_return acquire_result{
        nullptr, connect_failure::tls, asio::error::invalid_argument, breaker_kind::none,
        "TLS setup for " + ep.key + " failed: OpenSSL refused the name '" + ep.host + "'"};
  }
  auto shaken = co_await (stream.handshake(net::ssl::stream_base::client) ||
                          timer.async_wait(net::use_nothrow));
  if (shaken.index() == 1) {
    co_return acquire_result{nullptr, connect_failure::timeout, asio::error::timed_out,
                             breaker_kind::none,
                             "TLS handshake with " + ep.key + " timed out (connect_timeout)"};
  }
  if (const auto [hec] = std::get<0>(shaken); hec) {
    co_return acquire_result{nullptr, connect_failure::tls, hec, breaker_kind::none,
                             "TLS handshake with " + ep.key + " failed: " +
                                 net::describe_tls_failure(stream.tls()->native_handle(), hec)};
  }
  pending.opened = true;
  auto conn = std::make_unique<connection>(std::move(stream), &ep, breaker);
  conn->tls = std::move(tls);
  co_return acquire_result{std::move(conn), connect_failure::none, {}};
}

void pool::release(std::unique_ptr<connection> conn, bool reusable) {
  if (!conn) {
    return;
  }
  auto& ep = *conn->endpoint;
  if (reusable && !ep.drain && conn->stream.is_open() && ep.idle.size() < max_idle_per_endpoint) {
    conn->idle_since = coarse_now();
    if (!sweep_armed_) {
      // Disarmed only while nothing is idle: this one is the oldest.
      arm_sweep(conn->idle_since + idle_timeout_);
    }
    ep.idle.push_back(std::move(conn));
    return;
  }
  conn->stream.close();
}

std::size_t pool::close_idle_before(steady_time cutoff) {
  std::size_t closed = 0;
  for (auto& [key, ep] : endpoints_) {
    // Most recently used last: the expired ones are a prefix.
    auto& idle = ep->idle;
    const auto end = std::find_if(idle.begin(), idle.end(),
                                  [&](const auto& c) { return c->idle_since >= cutoff; });
    for (auto it = idle.begin(); it != end; ++it) {
      (*it)->stream.close();
    }
    closed += static_cast<std::size_t>(end - idle.begin());
    idle.erase(idle.begin(), end);
  }
  return closed;
}

// One timer for all idle connections, armed while any is idle, for when the
// oldest of them expires.
void pool::arm_sweep(steady_time at) {
  sweep_armed_ = true;
  sweep_timer_.expires_at(at);
  sweep_timer_.async_wait([this, alive = alive_](const error_code& ec) {
    if (ec || !*alive) {
      return;  // cancelled: the pool is going away
    }
    sweep_armed_ = false;
    close_idle_before(coarse_now() - idle_timeout_);
    steady_time oldest = steady_time::max();
    for (const auto& [key, ep] : endpoints_) {
      if (!ep->idle.empty()) {
        oldest = std::min(oldest, ep->idle.front()->idle_since);
      }
    }
    if (oldest != steady_time::max()) {
      arm_sweep(oldest + idle_timeout_);
    }
  });
}

std::size_t pool::idle_count() const {
  std::size_t n = 0;
  for (const auto& [key, ep] : endpoints_) {
    n += ep->idle.size();
  }
  return n;
}

std::size_t pool::idle_count(const std::string& endpoint_key) const {
  const auto it = endpoints_.find(endpoint_key);
  return it == endpoints_.end() ? 0 : it->second->idle.size();
}

}  // namespace cohort::upstream
