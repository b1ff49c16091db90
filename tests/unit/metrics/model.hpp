#pragma once
// A small label model shaped like cohort.example.yaml: one service with three
// subsets, two routes, one rollout.

#include "metrics/series_table.hpp"

namespace cohort::metrics::testing {

inline label_model example_model() {
  label_model m;
  m.services.push_back({"profile-api", {"stable", "baseline", "canary"}});
  m.services.push_back({"orders", {"stable"}});
  m.routes.push_back({"profile", 0});
  m.routes.push_back({"orders", 1});
  m.rollouts.push_back({"profile-api", 0});
  return m;
}

}  // namespace cohort::metrics::testing
