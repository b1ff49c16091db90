#include "upstream/drain.hpp"

#include "routing/compiled.hpp"
#include "routing/decision.hpp"

namespace cohort::upstream {

namespace {

void mark_rollout(const routing::compiled_rollout& r, std::vector<bool>& used) {
  const auto mark = [&](std::int64_t subset) {
    if (subset >= 0 && static_cast<std::size_t>(subset) < used.size()) {
      used[static_cast<std::size_t>(subset)] = true;
    }
  };
  using mode = routing::rollout_state::mode;
  if (r.phase == mode::rolled_back) {
    mark(r.stable);  // decided before any cohort
    return;
  }
  // Cohorts are matched before the phase's split: pins and joined cohorts keep users.
  for (const auto& c : r.cohorts) {
    if (c.pin == config::pin_target::stable) {
      mark(r.stable);
    } else if (c.pin == config::pin_target::canary || c.joined) {
      mark(r.canary);
    }
  }
  if (r.phase == mode::promoted) {
    mark(r.canary);
    return;
  }
  routing::rollout_state state;
  state.phase = r.phase;
  state.weight = r.weight;
  const auto shares = routing::shares_of(state, r.baseline >= 0);
  if (shares.canary > 0) {
    mark(r.canary);
  }
  if (shares.baseline > 0) {
    mark(r.baseline);
  }
  // Anonymous users may be sent to stable whatever the weight.
  if (shares.stable > 0 || r.anonymous == config::anonymous_policy::stable) {
    mark(r.stable);
  }
}

}  // namespace

std::vector<std::vector<bool>> subsets_in_use(const routing::snapshot& snap) {
  std::vector<std::vector<bool>> used;
  used.reserve(snap.services().size());
  for (const auto& svc : snap.services()) {
    used.emplace_back(svc.subsets.size(), false);
  }
  for (const auto& route : snap.routes()) {
    if (route->service < 0 || static_cast<std::size_t>(route->service) >= used.size()) {
      continue;
    }
    auto& subsets = used[static_cast<std::size_t>(route->service)];
    if (route->rollout < 0) {
      const auto stable = snap.services()[static_cast<std::size_t>(route->service)].stable_subset;
      if (stable < subsets.size()) {
        subsets[stable] = true;
      }
      continue;
    }
    mark_rollout(*snap.rollouts()[static_cast<std::size_t>(route->rollout)], subsets);
  }
  return used;
}

}  // namespace cohort::upstream
