#include "proxy/worker_context.hpp"

#include <random>
#include <string>
#include <vector>

#include "common/log.hpp"

namespace cohort::proxy {

worker_context::worker_context(net::asio::io_context& ctx, const snapshot_registry& registry,
                               unsigned index, metrics::shard& metrics,
                               upstream::shared_table* shared)
    : ctx_(ctx), registry_(registry), index_(index), metrics_(metrics), pool_(ctx, shared) {
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

void worker_context::notify_reload() {
  const std::vector<drainable*> current(connections_.begin(), connections_.end());
  for (auto* c : current) {
    if (connections_.count(c) != 0) {
      c->on_reload();
    }
  }
}

}  // namespace cohort::proxy

namespace cohort::proxy {

void worker_context::on_published() {
  // Taking the publication attaches it, which drains upstream connections of
  // subsets left without users.
  const auto& pub = published();
  if (tunnels_.size() == 0) {
    return;
  }
  const auto grace = pub->snapshot->source().gateway.websocket.rollback_grace;
  const auto closings = tunnels_.sweep(*pub->snapshot, grace);
  for (const auto& c : closings) {
    const std::string count = std::to_string(c.count);
    const std::string index = std::to_string(index_);
    log::info("closing websocket tunnels",
              {{"worker", index, true},
               {"tunnels", count, true},
               {"reason", to_string(c.why)},
               {c.why == tunnel_fate::rolled_back ? "rollout" : "subset", c.what},
               {"grace", format_duration(grace)}});
  }
}

}  // namespace cohort::proxy
