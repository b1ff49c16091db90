#pragma once
// Publication of the current routing snapshot, with the metrics series table
// interned for it, to all workers. Writers (reload, weight changes) store a
// new state and bump the generation; a worker compares the generation (one
// relaxed load per request) and only then takes the shared_ptr, so refcounts
// are not touched on every request by every core.

#include <atomic>
#include <cstdint>
#include <memory>

#include "metrics/series_table.hpp"
#include "routing/snapshot.hpp"

namespace cohort::net {
struct tls_contexts;
}

namespace cohort::proxy {

// A snapshot and the series ids of its routes, subsets and rollouts: a request
// uses both from the same publication, so its indexes always fit its series.
// The TLS contexts of the same configuration travel with them, so
// certificates reload with the routes.
struct published_state {
  std::shared_ptr<const routing::snapshot> snapshot;
  metrics::series_table series;
  std::shared_ptr<const net::tls_contexts> tls;  // null: nothing uses TLS
};

class snapshot_registry {
 public:
  void publish(std::shared_ptr<const published_state> state) {
    current_.store(std::move(state));
    generation_.fetch_add(1, std::memory_order_release);
  }
  std::shared_ptr<const published_state> load() const { return current_.load(); }
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::shared_ptr<const published_state>> current_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace cohort::proxy
