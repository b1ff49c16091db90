#include "proxy/worker_context.hpp"

#include <random>
#include <vector>

namespace cohort::proxy {

worker_context::worker_context(net::asio::io_context& ctx, const snapshot_registry& registry,
                               unsigned index, metrics::shard& metrics)
    : ctx_(ctx), registry_(registry), index_(index), metrics_(metrics), pool_(ctx) {
  std::random_device rd;
  random_state_ = (std::uint64_t{rd()} << 32) ^ rd() ^ (std::uint64_t{index} << 48);
}

void worker_context::refresh(std::uint64_t gen) {
  generation_ = gen;
  published_ = registry_.load();
  if (published_) {
    pool_.attach(*published_->snapshot, published_->tls.get());
  }
}

void worker_context::start_drain() {
  draining_ = true;
  // on_drain may end a connection, which removes it from the set: iterate a copy.
  const std::vector<drainable*> current(connections_.begin(), connections_.end());
  for (auto* c : current) {
    if (connections_.count(c) != 0) {
      c->on_drain();
    }
  }
}

}  // namespace cohort::proxy
