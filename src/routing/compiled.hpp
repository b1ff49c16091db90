#pragma once
// The compiled forms of routes and rollouts that snapshot.hpp only declares.
// Index i of snapshot::routes() / rollouts() / services() is index i of the
// source config's routes / rollouts / services.

#include <cstdint>
#include <string>
#include <vector>

#include "common/units.hpp"
#include "config/config.hpp"
#include "routing/cohort_plan.hpp"
#include "routing/matcher.hpp"
#include "routing/snapshot.hpp"

namespace cohort::routing {

class compiled_route {
 public:
  std::string name;
  compiled_match match;
  std::int32_t service = -1;
  std::int32_t rollout = -1;  // the first rollout of this service, or -1
};

struct compiled_key_source {
  config::key_source_kind kind = config::key_source_kind::header;
  std::string name;
  slot_index slot =
      no_slot;  // the header's (for a JWT claim: Authorization's), cookie's or query parameter's
};

struct compiled_cohort {
  std::string name;
  compiled_match match;
  config::pin_target pin = config::pin_target::none;
  bool joined = false;  // a step has added it to the canary
};

class compiled_rollout {
 public:
  std::string name;
  std::int32_t service = -1;
  std::uint32_t stable = 0;  // subset indices in the service
  std::uint32_t canary = 0;
  std::int32_t baseline = -1;  // -1: none
  std::uint64_t seed = 0;
  std::vector<compiled_key_source> key_sources;
  config::anonymous_policy anonymous = config::anonymous_policy::cookie;
  std::string cookie_name;
  slot_index cookie_slot = no_slot;
  std::vector<compiled_cohort> cohorts;
  cohort_plan plan;  // the cohorts with an effect, flattened; built last, points into `cohorts`
  basis_points weight = 0;
  rollout_state::mode phase = rollout_state::mode::progressing;
};

}  // namespace cohort::routing
