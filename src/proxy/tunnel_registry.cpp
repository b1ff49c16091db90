#include "proxy/tunnel_registry.hpp"

namespace cohort::proxy {

tunnel_identity identity_of(const routing::decision& d, const routing::snapshot& snap) {
  tunnel_identity id;
  id.kind = d.kind;
  if (d.service >= 0) {
    const auto& service = snap.services()[static_cast<std::size_t>(d.service)];
    id.service = service.name;
    if (d.subset < service.subsets.size()) {
      id.subset = service.subsets[d.subset].name;
    }
  }
  if (d.rollout >= 0) {
    id.rollout = snap.source().rollouts[static_cast<std::size_t>(d.rollout)].name;
  }
  return id;
}

std::string_view to_string(tunnel_fate f) {
  switch (f) {
    case tunnel_fate::keep:
      return "keep";
    case tunnel_fate::rolled_back:
      return "rollback";
    case tunnel_fate::subset_removed:
      return "subset removed";
  }
  return "keep";
}

tunnel_fate fate_of(const tunnel_identity& id, const routing::snapshot& snap) {
  const routing::service* service = nullptr;
  for (const auto& s : snap.services()) {
    if (s.name == id.service) {
      service = &s;
    }
  }
  bool subset_exists = false;
  if (service != nullptr) {
    for (const auto& sub : service->subsets) {
      subset_exists = subset_exists || sub.name == id.subset;
    }
  }
  if (!subset_exists) {
    return tunnel_fate::subset_removed;
  }
  if (id.rollout.empty()) {
    return tunnel_fate::keep;
  }
  const auto state = snap.states().find(id.rollout);
  if (state == snap.states().end() ||
      state->second.phase != routing::rollout_state::mode::rolled_back) {
    return tunnel_fate::keep;
  }
  for (const auto& r : snap.source().rollouts) {
    if (r.name == id.rollout) {
      // Rolled back: decide() sends every user of the rollout to its stable subset.
      return id.subset == r.stable ? tunnel_fate::keep : tunnel_fate::rolled_back;
    }
  }
  return tunnel_fate::keep;  // the rollout left the configuration: it retires in place
}

tunnel_fate tunnel_registry::add(closable_tunnel& t, tunnel_identity id,
                                 const routing::snapshot& snap, duration grace) {
  const auto fate = fate_of(id, snap);
  auto& e = open_[&t];
  e.id = std::move(id);
  e.closing = fate != tunnel_fate::keep;
  if (e.closing) {
    t.close_after(grace);
  }
  return fate;
}

void tunnel_registry::remove(closable_tunnel& t) {
  open_.erase(&t);
}

std::vector<tunnel_registry::closing> tunnel_registry::sweep(const routing::snapshot& snap,
                                                             duration grace) {
  std::vector<closing> out;
  for (auto& [t, e] : open_) {
    if (e.closing) {
      continue;
    }
    const auto fate = fate_of(e.id, snap);
    if (fate == tunnel_fate::keep) {
      continue;
    }
    e.closing = true;
    const std::string what =
        fate == tunnel_fate::rolled_back ? e.id.rollout : e.id.service + "/" + e.id.subset;
    closing* group = nullptr;
    for (auto& c : out) {
      if (c.why == fate && c.what == what) {
        group = &c;
      }
    }
    if (group == nullptr) {
      group = &out.emplace_back(closing{what, fate, 0});
    }
    ++group->count;
    // Last: close_after may not reenter the registry, but keep the entry consistent anyway.
    t->close_after(grace);
  }
  return out;
}

}  // namespace cohort::proxy
