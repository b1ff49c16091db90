#pragma once
// Everything the request path reads, in one immutable object: the configuration
// it came from, compiled routes, services and rollouts with their current
// weights. A reload or a weight change builds a new snapshot; requests keep the
// one they started with.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "config/loader.hpp"

namespace cohort::routing {

// The run-time state of a rollout that is not in the file: where the controller
// (or an operator) has taken it. Missing from the map: the file's starting point.
struct rollout_state {
  enum class mode : std::uint8_t { progressing, promoted, rolled_back };
  mode phase = mode::progressing;
  basis_points weight = 0;                  // canary share (and baseline share)
  std::vector<std::string> joined_cohorts;  // cohorts a step has added to the canary
  // Before the start gates pass, cohorts pinned to the canary stay on stable too.
  bool hold_canary_pins = false;
};
using rollout_states = std::map<std::string, rollout_state, std::less<>>;

struct endpoint {
  host_port address;
  std::string key;  // "host:port", stable across snapshots: upstream pools are keyed by it
};

struct subset {
  std::string name;
  std::vector<endpoint> endpoints;
};

struct service {
  std::string name;
  std::vector<subset> subsets;
  std::uint32_t stable_subset =
      0;  // index into subsets of the subset named "stable" (or the first)
  duration connect_timeout{1000};
  duration request_timeout{15000};
  std::optional<duration> per_try_timeout;
  config::lb_policy lb = config::lb_policy::least_request;
  config::upstream_protocol protocol = config::upstream_protocol::http1;
  config::failover_mode failover = config::failover_mode::stable;
  config::outlier_config outlier;
  config::retry_config retries;
  config::circuit_breaker_config breakers;
};

class compiled_route;    // defined in the routing implementation
class compiled_rollout;  // idem
class field_catalog;     // routing/field_slots.hpp

class snapshot {
 public:
  // Compiles a validated config with the given rollout states. Fails (with
  // diagnostics) only on what validation could not know, such as a state
  // naming a cohort that no longer exists.
  static result<std::shared_ptr<const snapshot>, config::diagnostics> build(
      config::config cfg, const rollout_states& states);

  ~snapshot();
  snapshot(const snapshot&) = delete;
  snapshot& operator=(const snapshot&) = delete;

  const config::config& source() const { return config_; }
  const std::vector<service>& services() const { return services_; }
  const rollout_states& states() const { return states_; }

  // Implementation access for decide() and explain.
  const std::vector<std::unique_ptr<compiled_route>>& routes() const { return routes_; }
  const std::vector<std::unique_ptr<compiled_rollout>>& rollouts() const { return rollouts_; }
  // The request fields the routes and rollouts read, by slot.
  const field_catalog& fields() const { return *fields_; }

 private:
  snapshot() = default;
  config::config config_;
  rollout_states states_;
  std::vector<service> services_;
  std::vector<std::unique_ptr<compiled_route>> routes_;
  std::vector<std::unique_ptr<compiled_rollout>> rollouts_;
  std::unique_ptr<field_catalog> fields_;
};

}  // namespace cohort::routing
