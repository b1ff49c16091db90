#pragma once
// What the sessions of one worker thread share: the worker's view of the
// current snapshot, its upstream pool, its random source, and drain state.
// Touched only by its own thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_set>

#include "metrics/shard.hpp"
#include "net/asio.hpp"
#include "net/flat_buffer.hpp"
#include "proxy/snapshot_registry.hpp"
#include "proxy/tunnel_registry.hpp"
#include "upstream/pool.hpp"
#include "upstream/retry_budget.hpp"

namespace cohort::proxy {

// A connection the worker can ask to stop when it drains.
class drainable {
 public:
  virtual ~drainable() = default;
  // Stop waiting for a next request; finish the one in progress.
  virtual void on_drain() = 0;
  // The configuration was reloaded (HTTP/2 connections send GOAWAY so clients reconnect).
  virtual void on_reload() {}
};

class worker_context {
 public:
  // shared: health flags and rate limiters common to all workers (may be null).
  worker_context(net::asio::io_context& ctx, const snapshot_registry& registry, unsigned index,
                 metrics::shard& metrics, upstream::shared_table* shared = nullptr);

  net::asio::io_context& io() { return ctx_; }
  unsigned index() const { return index_; }

  // The current publication; re-reads the registry only when its generation moved.
  const std::shared_ptr<const published_state>& published() {
    const auto gen = registry_.generation();
    if (gen != generation_) {
      refresh(gen);
    }
    return published_;
  }
  const std::shared_ptr<const routing::snapshot>& snapshot() { return published()->snapshot; }

  metrics::shard& metrics() { return metrics_; }

  upstream::pool& pool() { return pool_; }
  net::block_pool& blocks() { return blocks_; }

  // Requests in flight on this worker, and the retries among them may make.
  std::uint64_t& active_requests() { return active_requests_; }
  upstream::retry_budget& retry_budget() { return retry_budget_; }

  // splitmix64: cheap, good enough for anonymous ids and random splits.
  std::uint64_t random() {
    std::uint64_t z = (random_state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  bool draining() const { return draining_; }
  void start_drain();
  // Tells every connection that the configuration was reloaded.
  void notify_reload();

  void add_connection(drainable* c) {
    connections_.insert(c);
    live_.store(connections_.size(), std::memory_order_relaxed);
  }
  void remove_connection(drainable* c) {
    connections_.erase(c);
    live_.store(connections_.size(), std::memory_order_relaxed);
  }
  // Readable from any thread (the drain watches it from the main thread).
  std::size_t connection_count() const { return live_.load(std::memory_order_relaxed); }

  // The worker's open WebSocket tunnels.
  tunnel_registry& tunnels() { return tunnels_; }
  // A new snapshot was published (posted by the publisher, so the worker
  // hears of it even when no request arrives): tunnels whose users it routes
  // elsewhere are told to close after the rollback grace, with one log line.
  void on_published();

 private:
  void refresh(std::uint64_t gen);

  net::asio::io_context& ctx_;
  const snapshot_registry& registry_;
  unsigned index_;
  std::uint64_t generation_ = ~std::uint64_t{0};
  std::shared_ptr<const published_state> published_;
  metrics::shard& metrics_;
  upstream::pool pool_;
  net::block_pool blocks_;
  std::uint64_t active_requests_ = 0;
  upstream::retry_budget retry_budget_;
  std::uint64_t random_state_;
  bool draining_ = false;
  std::unordered_set<drainable*> connections_;
  std::atomic<std::size_t> live_{0};
  tunnel_registry tunnels_;
};

}  // namespace cohort::proxy
