#include "metrics/registry.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

namespace cohort::metrics {

std::string_view label_of(breaker b) {
  switch (b) {
    case breaker::max_connections:
      return "max_connections";
    case breaker::max_pending:
      return "max_pending";
    case breaker::max_requests:
      return "max_requests";
  }
  return "unknown";
}

std::string_view label_of(protocol p) {
  switch (p) {
    case protocol::http1_0:
      return "http/1.0";
    case protocol::http1_1:
      return "http/1.1";
    case protocol::http2:
      return "h2";
  }
  return "unknown";
}

std::string_view label_of(decision_reason r) {
  switch (r) {
    case decision_reason::cohort:
      return "cohort";
    case decision_reason::pin:
      return "pin";
    case decision_reason::bucket:
      return "bucket";
    case decision_reason::anonymous:
      return "anonymous";
    case decision_reason::rollback:
      return "rollback";
    case decision_reason::promoted:
      return "promoted";
  }
  return "bucket";
}

std::uint64_t collected::request_series::requests() const {
  std::uint64_t n = other_codes;
  for (const auto& [code, count] : codes) {
    n += count;
  }
  return n;
}

registry::registry(unsigned workers) {
  shards_.reserve(std::max(workers, 1u));
  for (unsigned i = 0; i < std::max(workers, 1u); ++i) {
    shards_.push_back(std::make_unique<shard>());
  }
  // Id 0: requests no route matched.
  std::lock_guard lock(mutex_);
  intern_one(requests_, {"", "", ""}, request_cells::capacity);
  reserve_all();
}

series_id registry::intern_one(label_index& index, std::vector<std::string> key,
                               std::size_t capacity) {
  if (auto it = index.ids.find(key); it != index.ids.end()) {
    return it->second;
  }
  if (index.by_id.size() >= capacity) {
    ++refused_;
    return no_series;
  }
  const auto id = static_cast<series_id>(index.by_id.size());
  index.by_id.push_back(key);
  index.ids.emplace(std::move(key), id);
  return id;
}

void registry::reserve_all() {
  for (auto& s : shards_) {
    s->requests_.reserve(requests_.by_id.size());
    s->upstreams_.reserve(upstreams_.by_id.size());
    s->listeners_.reserve(listeners_.by_id.size());
    s->decisions_.reserve(decisions_.by_id.size());
    s->failovers_.reserve(failovers_.by_id.size());
    s->arms_.reserve(arms_.by_id.size());
  }
}

series_table registry::intern(const label_model& model) {
  std::lock_guard lock(mutex_);
  series_table t;
  t.unrouted_ = 0;
  const auto subsets_of = [&](std::uint32_t service) -> const std::vector<std::string>* {
    return service < model.services.size() ? &model.services[service].subsets : nullptr;
  };
  for (const auto& r : model.routes) {
    const auto* subsets = subsets_of(r.service);
    if (subsets != nullptr) {
      for (const auto& subset : *subsets) {
        t.request_ids_.push_back(intern_one(
            requests_, {r.name, model.services[r.service].name, subset}, request_cells::capacity));
      }
    }
    t.route_base_.push_back(static_cast<std::uint32_t>(t.request_ids_.size()));
  }
  for (const auto& s : model.services) {
    for (const auto& subset : s.subsets) {
      t.upstream_ids_.push_back(intern_one(upstreams_, {s.name, subset}, upstream_cells::capacity));
    }
    t.service_base_.push_back(static_cast<std::uint32_t>(t.upstream_ids_.size()));
  }
  for (const auto& ro : model.rollouts) {
    const auto* subsets = subsets_of(ro.service);
    if (subsets != nullptr) {
      const auto& service = model.services[ro.service];
      const bool has_stable = ro.stable < subsets->size();
      for (const auto& subset : *subsets) {
        t.arm_ids_.push_back(intern_one(arms_, {ro.name, subset}, arm_cells::capacity));
        t.failover_ids_.push_back(has_stable && subset != (*subsets)[ro.stable]
                                      ? intern_one(failovers_,
                                                   {service.name, subset, (*subsets)[ro.stable]},
                                                   failover_cells::capacity)
                                      : no_series);
        for (std::size_t r = 0; r < decision_reason_count; ++r) {
          t.decision_ids_.push_back(intern_one(
              decisions_, {ro.name, subset, std::string(label_of(static_cast<decision_reason>(r)))},
              decision_cells::capacity));
        }
      }
    }
    t.rollout_base_.push_back(static_cast<std::uint32_t>(t.arm_ids_.size()));
  }
  reserve_all();
  return t;
}

listener_id registry::intern_listener(std::string_view name) {
  std::lock_guard lock(mutex_);
  const series_id id = intern_one(listeners_, {std::string(name)}, listener_cells::capacity);
  reserve_all();
  return id;
}

std::optional<series_id> registry::find_arm(std::string_view rollout,
                                            std::string_view subset) const {
  std::lock_guard lock(mutex_);
  auto it = arms_.ids.find({std::string(rollout), std::string(subset)});
  if (it == arms_.ids.end()) {
    return std::nullopt;
  }
  return it->second;
}

namespace {

// A copy of one slot, taken under the seqlock.
struct slot_copy {
  std::uint64_t latency_sum_ns = 0;
  std::uint32_t requests = 0;
  std::uint32_t errors = 0;
  std::array<std::uint32_t, status_classes> classes{};
  std::array<std::uint32_t, window_layout::count> latency{};
};

// False when the slot does not hold `second` (never written, expired, or
// reused while we read).
bool read_slot(const window_slot& s, std::uint64_t second, slot_copy& out) {
  if (s.second.load(std::memory_order_acquire) != second) {
    return false;
  }
  out.latency_sum_ns = s.latency_sum_ns.load(std::memory_order_relaxed);
  out.requests = s.requests.load(std::memory_order_relaxed);
  out.errors = s.errors.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < status_classes; ++i) {
    out.classes[i] = s.classes[i].load(std::memory_order_relaxed);
  }
  for (std::size_t i = 0; i < window_layout::count; ++i) {
    out.latency[i] = s.latency[i].load(std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  return s.second.load(std::memory_order_relaxed) == second;
}

void add(second_counts& into, const slot_copy& c) {
  into.requests += c.requests;
  into.errors += c.errors;
  for (std::size_t i = 0; i < status_classes; ++i) {
    into.classes[i] += c.classes[i];
  }
}

void add(window_histogram& into, const slot_copy& c) {
  for (std::size_t i = 0; i < window_layout::count; ++i) {
    if (c.latency[i] != 0) {
      into.add_bucket(i, c.latency[i]);
    }
  }
  into.add_sum_ns(c.latency_sum_ns);
}

}  // namespace

window_stats registry::query(series_id arm, std::uint32_t seconds, std::uint64_t now_s) const {
  window_stats w;
  const std::uint64_t span = std::min<std::uint64_t>({seconds, window_slots, now_s + 1});
  w.last_second = now_s;
  w.first_second = now_s + 1 - span;
  w.per_second.resize(span);
  for (std::uint64_t k = 0; k < span; ++k) {
    w.per_second[k].second = w.first_second + k;
  }
  slot_copy copy;
  for (const auto& s : shards_) {
    const arm_ring* ring = s->arms_.find(arm);
    if (ring == nullptr) {
      continue;
    }
    for (std::uint64_t k = 0; k < span; ++k) {
      const std::uint64_t sec = w.first_second + k;
      if (read_slot(ring->slots[sec & (window_slots - 1)], sec, copy)) {
        add(w.per_second[k], copy);
        add(w.latency, copy);
      }
    }
  }
  for (const auto& p : w.per_second) {
    w.requests += p.requests;
    w.errors += p.errors;
    for (std::size_t i = 0; i < status_classes; ++i) {
      w.classes[i] += p.classes[i];
    }
  }
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  w.success_rate =
      w.requests == 0 ? nan : 1.0 - static_cast<double>(w.errors) / static_cast<double>(w.requests);
  w.p50 = w.latency.quantile_seconds(0.5);
  w.p90 = w.latency.quantile_seconds(0.9);
  w.p99 = w.latency.quantile_seconds(0.99);
  w.p999 = w.latency.quantile_seconds(0.999);
  return w;
}

second_stats registry::second(series_id arm, std::uint64_t sec) const {
  second_stats out;
  out.counts.second = sec;
  slot_copy copy;
  for (const auto& s : shards_) {
    const arm_ring* ring = s->arms_.find(arm);
    if (ring != nullptr && read_slot(ring->slots[sec & (window_slots - 1)], sec, copy)) {
      add(out.counts, copy);
      add(out.latency, copy);
    }
  }
  return out;
}

collected registry::collect() const {
  std::lock_guard lock(mutex_);
  constexpr auto r = std::memory_order_relaxed;
  collected out;
  out.refused_series = refused_;

  out.requests.resize(requests_.by_id.size());
  for (std::size_t id = 0; id < requests_.by_id.size(); ++id) {
    auto& series = out.requests[id];
    series.route = requests_.by_id[id][0];
    series.service = requests_.by_id[id][1];
    series.subset = requests_.by_id[id][2];
    std::map<std::uint16_t, std::uint64_t> codes;
    for (const auto& s : shards_) {
      const request_cell* c = s->requests_.find(static_cast<series_id>(id));
      if (c == nullptr) {
        continue;
      }
      for (std::size_t i = 0; i < status_slots; ++i) {
        const std::uint32_t key = c->code_keys[i].load(std::memory_order_acquire);
        if (key != 0) {
          codes[static_cast<std::uint16_t>(key)] += c->code_counts[i].load(r);
        }
      }
      series.other_codes += c->other_codes.load(r);
      series.bytes_in += c->bytes_in.load(r);
      series.bytes_out += c->bytes_out.load(r);
      series.latency.add_sum_ns(c->latency_sum_ns.load(r));
      for (std::size_t i = 0; i < latency_layout::count; ++i) {
        if (const std::uint64_t n = c->latency[i].load(r); n != 0) {
          series.latency.add_bucket(i, n);
        }
      }
    }
    series.codes.assign(codes.begin(), codes.end());
  }

  out.upstreams.resize(upstreams_.by_id.size());
  for (std::size_t id = 0; id < upstreams_.by_id.size(); ++id) {
    auto& series = out.upstreams[id];
    series.service = upstreams_.by_id[id][0];
    series.subset = upstreams_.by_id[id][1];
    std::uint64_t tunnels_opened = 0;
    std::uint64_t tunnels_closed = 0;
    for (const auto& s : shards_) {
      if (const upstream_cell* c = s->upstreams_.find(static_cast<series_id>(id))) {
        // Closed first: read after its open, a close is never counted without it.
        tunnels_closed += c->tunnels_closed.load(r);
        tunnels_opened += c->tunnels_opened.load(r);
        series.connect_failures += c->connect_failures.load(r);
        series.timeouts += c->timeouts.load(r);
        series.resets += c->resets.load(r);
        for (std::size_t b = 0; b < breaker_count; ++b) {
          series.breaker_overflows[b] += c->breaker_overflows[b].load(r);
        }
        for (std::size_t g = 0; g < grpc_status_count; ++g) {
          series.grpc_statuses[g] += c->grpc_statuses[g].load(r);
        }
        series.rate_limited += c->rate_limited.load(r);
      }
    }
    series.tunnels_open = tunnels_closed > tunnels_opened ? 0 : tunnels_opened - tunnels_closed;
  }

  out.listeners.resize(listeners_.by_id.size());
  for (std::size_t id = 0; id < listeners_.by_id.size(); ++id) {
    auto& series = out.listeners[id];
    series.listener = listeners_.by_id[id][0];
    std::uint64_t opened = 0;
    std::uint64_t closed = 0;
    for (const auto& s : shards_) {
      if (const listener_cell* c = s->listeners_.find(static_cast<series_id>(id))) {
        opened += c->opened.load(r);
        closed += c->closed.load(r);
        series.tls_handshake_failures += c->tls_handshake_failures.load(r);
        for (std::size_t p = 0; p < protocol_count; ++p) {
          series.requests[p] += c->requests[p].load(r);
        }
      }
    }
    series.accepted = opened;
    // Shards are read one after another, so a close may be seen without its open.
    series.open = closed > opened ? 0 : opened - closed;
  }

  out.decisions.resize(decisions_.by_id.size());
  for (std::size_t id = 0; id < decisions_.by_id.size(); ++id) {
    auto& series = out.decisions[id];
    series.rollout = decisions_.by_id[id][0];
    series.subset = decisions_.by_id[id][1];
    series.reason = decisions_.by_id[id][2];
    for (const auto& s : shards_) {
      if (const decision_cell* c = s->decisions_.find(static_cast<series_id>(id))) {
        series.count += c->count.load(r);
      }
    }
  }

  out.failovers.resize(failovers_.by_id.size());
  for (std::size_t id = 0; id < failovers_.by_id.size(); ++id) {
    auto& series = out.failovers[id];
    series.service = failovers_.by_id[id][0];
    series.from = failovers_.by_id[id][1];
    series.to = failovers_.by_id[id][2];
    for (const auto& s : shards_) {
      if (const failover_cell* c = s->failovers_.find(static_cast<series_id>(id))) {
        series.count += c->count.load(r);
      }
    }
  }
  return out;
}

}  // namespace cohort::metrics
