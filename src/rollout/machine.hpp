#pragma once
// The rollout state machine, without I/O: given the configuration, the current
// record, the time and what happened since the last tick (an interval's
// evidence, webhook outcomes), it returns the next record and the effects the
// caller must carry out, in order. The first effect is always `persist` when
// the record changed: the caller writes the record (a compare-and-swap on the
// revision it read) and only then publishes routing state, calls webhooks and
// logs, so a crash never leaves users on a state that was not saved.
//
// The one piece of state kept outside the record is the sequential test: its
// evidence is rebuilt from zero after a process restart (which keeps its
// false-alarm guarantee and only costs detection time).

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "analysis/sample.hpp"
#include "analysis/sequential.hpp"
#include "common/result.hpp"
#include "config/config.hpp"
#include "rollout/rollout_record.hpp"
#include "routing/snapshot.hpp"

namespace cohort::rollout {

// One metric of one interval, as the caller measured it. nullopt: no data
// (no traffic in the window, an empty Prometheus answer, a failed query).
struct metric_value {
  std::string name;  // as in analysis.metrics[].name
  std::optional<double> canary;
  std::optional<double> baseline;
};

// One second of traffic for the sequential test.
struct second_counts {
  analysis::arm_counts canary;
  analysis::arm_counts baseline;
  std::optional<analysis::histogram> canary_latency;  // both or neither
  std::optional<analysis::histogram> baseline_latency;
};

// What the gateway and Prometheus saw during one analysis interval, cut at
// the start of the current step: requests routed with an earlier population
// (or for an earlier revision) are not in it.
struct interval_evidence {
  analysis::arm_counts canary;         // requests and errors in the interval
  analysis::arm_counts baseline;       // of the control arm: the baseline, or stable without one
  std::uint64_t service_requests = 0;  // every arm of the rollout: is anyone using the service?
  std::vector<metric_value> metrics;
  std::vector<second_counts> seconds;  // in order; fed to the sequential test
};

struct webhook_outcome {
  std::string name;  // the webhook's name (its type's name when the file gives none)
  bool ok = false;   // 2xx within the timeout (after the caller's retries)
  std::string detail;
  config::webhook_type type = config::webhook_type::event;  // as in the call_webhook effect
};

struct tick_input {
  time_point now{};  // wall clock, for the record's timestamps
  // Steady clock, for durations (pauses, deadlines, gate re-asks); nullopt:
  // taken from `now` (tests that only move one clock).
  std::optional<std::chrono::milliseconds> steady;
  std::string canary_fingerprint;             // empty: unknown, never a restart
  std::optional<interval_evidence> interval;  // nullopt: not an analysis tick
  std::vector<webhook_outcome> webhooks;      // outcomes of the gates asked for
};

enum class action { promote, abort, pause, resume, retry };
std::string_view to_string(action a);

// ---- effects, in the order the caller must apply them
struct persist {};  // write `next` to the store before anything below
struct publish_routing {
  routing::rollout_state state;
};
struct log_line {
  bool warning = false;
  std::string message;  // Flagger style: "Advance profile-api canary weight 5%"
};
struct metric_increment {
  std::string name;  // e.g. cohort_analysis_checks_total
  std::vector<std::pair<std::string, std::string>> labels;
  double delta = 1;
};
struct call_webhook {
  config::webhook_type type = config::webhook_type::event;
  std::string name;
  std::string url;
  duration timeout{5000};
  bool gate = false;    // the outcome must come back in a later tick_input (gates and polls)
  std::string payload;  // JSON body
};
using effect = std::variant<persist, publish_routing, log_line, metric_increment, call_webhook>;

struct transition {
  rollout_record next;
  std::vector<effect> effects;
};

std::string_view webhook_name(const config::webhook_config& w);

class machine {
 public:
  explicit machine(config::rollout_config cfg);

  // A record for a rollout seen for the first time.
  rollout_record initial(const std::string& fingerprint, time_point now) const;

  transition tick(const rollout_record& current, const tick_input& in);

  // An operator's action. Refused (with the reason) when it makes no sense in
  // the current phase, such as resuming a rollout that is not paused.
  // `steady` as in tick_input (nullopt: taken from `now`).
  result<transition> act(const rollout_record& current, action a, time_point now,
                         std::optional<std::chrono::milliseconds> steady = std::nullopt);

  const config::rollout_config& config() const { return cfg_; }

  // Takes the sequential test's evidence from the machine this one replaces
  // (a reload) when the test is configured the same and compares the same
  // arms; a reload that changes neither must not reset it to e = 1.
  void keep_evidence_from(machine& previous);

 private:
  struct context;
  void restart(context& c, const std::string& fingerprint, std::string message) const;
  void settle(context& c) const;
  void resolve_gate(context& c, const std::vector<webhook_outcome>& outcomes);
  void begin_start(context& c) const;
  void start(context& c) const;
  void apply_step(context& c, std::uint32_t index) const;
  void try_advance(context& c);
  void complete_step(context& c) const;
  void roll_back_if_asked(context& c, const std::vector<webhook_outcome>& outcomes) const;
  bool compares() const;
  void advance(context& c) const;
  void begin_promotion(context& c) const;
  void promote(context& c, std::string why) const;
  void roll_back(context& c, std::string message) const;
  enum class interval_result { passed, failed, held, rolled_back };
  interval_result analyse(context& c, const interval_evidence& ev);
  bool run_judge(context& c);
  void ask_gate(context& c, gate g, config::webhook_type type) const;
  bool has_webhooks(config::webhook_type type) const;
  std::size_t step_count() const;
  config::step_config step_at(std::uint32_t index) const;
  transition finish(const rollout_record& before, context& c) const;

  config::rollout_config cfg_;
  std::optional<analysis::sequential_monitor> monitor_;
  time_point monitor_run_{};
};

}  // namespace cohort::rollout
