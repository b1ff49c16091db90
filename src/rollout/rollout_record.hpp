#pragma once
// The persisted state of one rollout: where the controller has taken it, the
// evidence of its last analysis and a bounded history. It is what the state
// store holds (as JSON) and what a restarted process resumes from; the routing
// state the gateway uses is derived from it (to_routing_state).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/units.hpp"
#include "config/config.hpp"
#include "routing/snapshot.hpp"

namespace cohort::rollout {

// Wall-clock time: records outlive the process, so a steady clock would not do.
using time_point = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

enum class phase : std::uint8_t {
  initialized,
  progressing,
  paused,
  waiting_promotion,
  promoting,
  succeeded,
  rolling_back,
  failed,
};

// "Initialized", "Progressing", ... as INTERFACE.md spells them.
std::string_view to_string(phase p);
std::optional<phase> parse_phase(std::string_view text);

// Succeeded and Failed: nothing moves until a new canary version or a retry.
bool is_terminal(phase p);

enum class check_result : std::uint8_t { pass, fail, nodata };
std::string_view to_string(check_result r);

// One threshold check of one interval.
struct metric_result {
  std::string name;
  std::optional<double> value;  // the canary's value; nullopt: no data
  std::optional<double> baseline;
  std::optional<double> min;
  std::optional<double> max;
  check_result result = check_result::nodata;
};

// The sequential test's state as last seen (see analysis::sequential_record).
struct sequential_summary {
  double e_value = 1;
  double threshold = 100;
  double odds_ratio = 1;
  std::uint64_t seconds = 0;
  bool rejected = false;
  std::string summary;
};

struct judge_summary {
  std::string verdict;  // pass | marginal | fail | nodata
  double score = 0;
  std::string summary;
};

struct analysis_summary {
  time_point at{};
  std::string control;                // the arm the canary is compared with: "baseline" or "stable"
  std::uint64_t canary_requests = 0;  // in the interval (since the step began, at most)
  std::uint64_t baseline_requests = 0;  // of the control arm
  std::vector<metric_result> metrics;
  std::optional<sequential_summary> sequential;
  std::optional<judge_summary> judge;
};

struct event {
  time_point at{};
  std::string level;  // "info" or "warn"
  std::string message;
};

// Per-interval values of one metric during the current step: the judge
// compares the canary's series with the baseline's at the step boundary.
struct metric_series {
  std::string name;
  std::vector<double> canary;
  std::vector<double> baseline;
};

// The evidence a completed step advanced on: its own requests only.
struct step_evidence {
  std::uint32_t step = 0;  // 0-based index
  std::uint64_t canary_requests = 0;
  std::uint64_t control_requests = 0;
  time_point completed{};
};

// Which gate webhooks the controller is waiting for.
enum class gate : std::uint8_t { none, start, advance, promotion };
std::string_view to_string(gate g);

inline constexpr std::size_t max_events = 64;
inline constexpr std::size_t max_series_points = 256;

struct rollout_record {
  std::string name;
  phase current = phase::initialized;
  std::uint32_t step = 0;  // index of the step being held (its population is applied)
  bool started = false;    // step `step` has been applied
  basis_points weight = 0;
  std::vector<std::string> joined_cohorts;
  std::uint32_t failed_checks = 0;
  std::uint64_t step_requests = 0;  // canary requests judged (in passing intervals) this step
  std::uint64_t step_control_requests = 0;     // control-arm requests of the same intervals
  std::vector<step_evidence> completed_steps;  // this run's, oldest first
  time_point step_started{};
  time_point phase_since{};
  std::optional<time_point> no_data_since;
  std::string canary_fingerprint;  // what canary version this state applies to
  time_point run_started{};        // when this run (fingerprint or retry) began
  // Where the canary ran when it was promoted ("host:port,..."): until stable
  // points there, a configuration that would send users back is refused.
  std::string promoted_endpoints;

  // Durations are measured on the steady clock (a wall-clock step must not end
  // a pause or a deadline). Not persisted: a restored record re-bases them on
  // the wall-clock fields above (see rebase_steady).
  std::chrono::milliseconds step_started_steady{0};
  std::optional<std::chrono::milliseconds> no_data_since_steady;
  std::optional<std::chrono::milliseconds> gate_asked_steady;  // last ask of the start gates

  // Operator pause on top of a phase: where resume returns to.
  bool operator_paused = false;
  phase resume_to = phase::progressing;

  gate pending_gate = gate::none;
  std::vector<std::string> pending_webhooks;  // names of the gate webhooks asked for

  analysis_summary last_analysis;
  std::vector<metric_series> step_series;
  std::vector<event> events;  // newest last, at most max_events
  std::string reason;         // of the last transition
};

// Appends an event, dropping the oldest beyond max_events.
void add_event(rollout_record& r, time_point at, std::string level, std::string message);

std::string to_json(const rollout_record& r);
result<rollout_record> from_json(std::string_view text);

// What the gateway routes with: Succeeded/Promoting send everyone to the
// canary, RollingBack/Failed everyone to stable, other phases the record's
// weight and joined cohorts.
routing::rollout_state to_routing_state(const rollout_record& r);

// The identity of the canary version: its revision and its endpoints. A change
// restarts the rollout from step 0.
std::string canary_fingerprint(const config::rollout_config& rollout,
                               const std::vector<host_port>& canary_endpoints);
// Same, finding the canary subset's endpoints in the configuration's services.
std::string canary_fingerprint(const config::config& cfg, const config::rollout_config& rollout);

// A subset's endpoints as "host:port,host:port", sorted; empty when the
// service or subset is not in the configuration.
std::string subset_endpoints(const config::config& cfg, const std::string& service,
                             const std::string& subset);

// Sets the steady-clock fields of a record read from the store from its
// wall-clock fields, as if the time since then had passed on the steady clock
// (never negative: a clock that went back counts as no time).
void rebase_steady(rollout_record& r, time_point wall_now, std::chrono::milliseconds steady_now);

}  // namespace cohort::rollout
