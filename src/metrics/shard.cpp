#include "metrics/shard.hpp"

namespace cohort::metrics {

namespace {

void count_status(request_cell& c, std::uint16_t status) {
  if (status == 0) {
    bump(c.other_codes);
    return;
  }
  // Linear probing from a cheap hash; the single writer claims free slots, so
  // a key never changes once set. Readers take the key with acquire and may
  // see a count that trails it by the increment in flight.
  std::size_t i = (status * 7u) & (status_slots - 1);
  for (std::size_t probes = 0; probes < status_slots; ++probes) {
    const std::uint32_t key = c.code_keys[i].load(std::memory_order_relaxed);
    if (key == status) {
      bump(c.code_counts[i]);
      return;
    }
    if (key == 0) {
      c.code_counts[i].store(1, std::memory_order_relaxed);
      c.code_keys[i].store(status, std::memory_order_release);
      return;
    }
    i = (i + 1) & (status_slots - 1);
  }
  bump(c.other_codes);
}

// Moves a slot to a new second: marks it busy, clears it, publishes the second.
void claim(window_slot& s, std::uint64_t second) {
  s.second.store(slot_busy, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  s.latency_sum_ns.store(0, std::memory_order_relaxed);
  s.requests.store(0, std::memory_order_relaxed);
  s.errors.store(0, std::memory_order_relaxed);
  for (auto& c : s.classes) {
    c.store(0, std::memory_order_relaxed);
  }
  for (auto& c : s.latency) {
    c.store(0, std::memory_order_relaxed);
  }
  s.second.store(second, std::memory_order_release);
}

}  // namespace

void shard::record_request(series_id id, std::uint16_t status, std::uint64_t latency_ns,
                           std::uint64_t bytes_in, std::uint64_t bytes_out) {
  request_cell* c = requests_.find(id);
  if (c == nullptr) {
    return;
  }
  count_status(*c, status);
  bump(c->bytes_in, bytes_in);
  bump(c->bytes_out, bytes_out);
  bump(c->latency_sum_ns, latency_ns);
  bump(c->latency[latency_layout::index(latency_ns)]);
}

void shard::record_window(series_id arm, std::uint64_t now_s, std::uint16_t status,
                          std::uint64_t latency_ns, bool error) {
  arm_ring* ring = arms_.find(arm);
  if (ring == nullptr || now_s >= slot_busy) {
    return;
  }
  window_slot& s = ring->slots[now_s & (window_slots - 1)];
  const std::uint64_t held = s.second.load(std::memory_order_relaxed);
  if (held != now_s) {
    if (held != slot_empty && held > now_s) {
      return;  // older than what the slot holds now: that second has left the ring
    }
    claim(s, now_s);
  }
  bump<std::uint32_t>(s.requests);
  if (error) {
    bump<std::uint32_t>(s.errors);
  }
  const unsigned cls = status / 100u;
  if (cls >= 1 && cls <= status_classes) {
    bump<std::uint32_t>(s.classes[cls - 1]);
  }
  bump(s.latency_sum_ns, latency_ns);
  bump<std::uint32_t>(s.latency[window_layout::index(latency_ns)]);
}

void shard::record_upstream(series_id id, upstream_event e) {
  upstream_cell* c = upstreams_.find(id);
  if (c == nullptr) {
    return;
  }
  switch (e) {
    case upstream_event::connect_failure:
      bump(c->connect_failures);
      break;
    case upstream_event::timeout:
      bump(c->timeouts);
      break;
    case upstream_event::reset:
      bump(c->resets);
      break;
  }
}

void shard::record_grpc_status(series_id id, unsigned code) {
  if (code >= grpc_status_count) {
    return;
  }
  if (upstream_cell* c = upstreams_.find(id)) {
    bump(c->grpc_statuses[code]);
  }
}

void shard::record_breaker_overflow(series_id id, breaker b) {
  if (upstream_cell* c = upstreams_.find(id)) {
    bump(c->breaker_overflows[static_cast<std::size_t>(b)]);
  }
}

}  // namespace cohort::metrics
