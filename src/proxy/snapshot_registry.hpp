#pragma once
// Publication of the current snapshot to all workers. Writers (reload, weight
// changes) store a new snapshot and bump the generation; a worker compares the
// generation (one relaxed load per request) and only then takes the shared_ptr,
// so refcounts are not touched on every request by every core.

#include <atomic>
#include <cstdint>
#include <memory>

#include "routing/snapshot.hpp"

namespace cohort::proxy {

class snapshot_registry {
 public:
  void publish(std::shared_ptr<const routing::snapshot> snap) {
    current_.store(std::move(snap));
    generation_.fetch_add(1, std::memory_order_release);
  }
  std::shared_ptr<const routing::snapshot> load() const { return current_.load(); }
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::shared_ptr<const routing::snapshot>> current_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace cohort::proxy
