#pragma once
// Anytime-valid regression tests, updated once per second with that second's
// new counts, safe to read after every update: under "the canary is no worse
// than the baseline", the chance that the evidence ever reaches 1/alpha during
// the whole rollout is at most alpha. No traffic adds no evidence, so a quiet
// canary is never rolled back for being quiet.
//
//  - error_test: canary errors (5xx, or 4xx) against the baseline's, one 2x2
//    table per second (see odds_ratio_mixture).
//  - latency_test: both arms' requests of a second are classified against
//    thresholds taken from the baseline's latency before that second (its
//    p10 ... p99); a canary request counts as above a threshold T only when it
//    is above T * (1 + tolerance) + latency_floor, so a slowdown that does not
//    matter is no evidence. The canary's exceedances are tested against the
//    baseline's exactly like errors, one stage per threshold, with one odds
//    ratio shared by all stages and also one per stage (a tail-only
//    regression moves only the top stages).
//  - sequential_monitor: 5xx, 4xx and latency, sharing alpha, latched once it
//    rejects.
//
// Every test caps how much one second can multiply its evidence
// (max_step_per_second): a second in which one process stalls is a real but
// passing difference, and must not settle a rollout on its own.

#include <cstdint>
#include <string>
#include <vector>

#include "analysis/odds_ratio_mixture.hpp"
#include "analysis/sample.hpp"

namespace cohort::analysis {

struct sequential_params {
  double alpha = 0.01;
  // Relative slack: 0.1 lets the canary's odds of an error be 10% higher, and
  // its latency 10% longer, before it counts as a regression.
  double tolerance = 0.0;
  // Seconds of latency that never count: a canary request is slow against a
  // baseline threshold T only above T * (1 + tolerance) + latency_floor.
  double latency_floor = 0.001;
  // Also test 4xx responses (arm_counts::client_errors) as a third event type.
  bool client_errors = true;
  // Baseline quantiles whose values become the latency thresholds.
  std::vector<double> latency_quantiles = {0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99};
  // A quantile is used once the baseline has seen enough requests that about
  // this many lie above it; until then its threshold is too coarse to help.
  double min_tail_requests = 5;
  mixture_grid error_grid = {1.25, 40.0, 32};
  mixture_grid latency_grid = {1.05, 4.0, 32};
  // One stage's own odds ratio: a tail-only regression has a large one.
  mixture_grid stage_grid = {1.25, 20.0, 16};
  // Share of the latency e-value on the per-stage odds ratios (the rest is on
  // the shared one).
  double stage_weight = 0.2;
  // The monitor's e-value: error_weight * 5xx + client_error_weight * 4xx +
  // the rest * latency; without client_errors its weight goes to the others
  // in proportion.
  double error_weight = 0.45;
  double client_error_weight = 0.1;
  // Largest factor by which one second may raise a test's e-value.
  double max_step_per_second = 10.0;
};

struct stage_record {
  double quantile = 0;
  double threshold_seconds = 0;         // the latest baseline threshold (0 until known)
  double canary_threshold_seconds = 0;  // what a canary request must exceed instead
  std::uint64_t canary_exceed = 0;      // cumulative
  std::uint64_t baseline_exceed = 0;    // cumulative
  double e_value = 1;                   // this stage's own odds ratio, unclipped
};

struct sequential_record {
  std::string test;  // "errors", "4xx", "latency" or "sequential"
  std::uint64_t seconds = 0;
  std::uint64_t canary_requests = 0;
  std::uint64_t baseline_requests = 0;
  std::uint64_t canary_events = 0;  // errors, or requests above the top threshold
  std::uint64_t baseline_events = 0;
  double log_e_value = 0;
  double e_value = 1;
  double threshold = 100;  // 1 / alpha
  double odds_ratio = 1;   // most likely odds ratio on the grid
  bool rejected = false;
  std::uint64_t rejected_at = 0;     // seconds when it first rejected
  std::uint64_t capped_seconds = 0;  // seconds whose factor max_step_per_second cut
  std::vector<stage_record> stages;
  std::string summary;
};

// An e-process whose factor per second is capped. If E_t is an e-process, so
// is the product of min(E_t / E_{t-1}, cap): each factor is at most the
// original one, whose conditional expectation is at most 1 under the null.
class capped_evidence {
 public:
  explicit capped_evidence(double max_step);

  // The uncapped process's log e-value after this second.
  void step(double raw_log_e);

  double log_evidence() const { return log_e_; }
  std::uint64_t capped_seconds() const { return capped_; }

 private:
  double log_cap_;
  double raw_ = 0;
  double log_e_ = 0;
  std::uint64_t capped_ = 0;
};

// Which count of arm_counts an error_test reads.
enum class error_kind { server, client };

class error_test {
 public:
  explicit error_test(const sequential_params& params, error_kind kind = error_kind::server);

  // One second's new requests and errors of each arm.
  void update(const arm_counts& canary, const arm_counts& baseline);

  double evidence() const;
  double log_evidence() const { return evidence_.log_evidence(); }
  bool rejected() const { return rejected_at_ > 0; }
  sequential_record record() const;

 private:
  double alpha_;
  error_kind kind_;
  odds_ratio_mixture mixture_;
  capped_evidence evidence_;
  std::uint64_t canary_requests_ = 0;
  std::uint64_t canary_events_ = 0;
  std::uint64_t baseline_requests_ = 0;
  std::uint64_t baseline_events_ = 0;
  std::uint64_t seconds_ = 0;
  std::uint64_t rejected_at_ = 0;
};

class latency_test {
 public:
  explicit latency_test(const sequential_params& params);

  // One second's new latency histograms of each arm (same bucket bounds).
  // Returns false, ignoring the second, when the layouts differ.
  bool update(const histogram& canary, const histogram& baseline);

  double evidence() const;
  double log_evidence() const { return evidence_.log_evidence(); }
  bool rejected() const { return rejected_at_ > 0; }
  sequential_record record() const;

 private:
  // The uncapped e-value: shared and per-stage odds ratios, averaged.
  double raw_log_evidence() const;

  double alpha_;
  double min_tail_;
  double slack_;  // 1 + tolerance
  double floor_;
  double stage_weight_;
  // A floor or a tolerance moves the canary's thresholds above the
  // baseline's: the stages are then unconditional tables and the chain is
  // unused. Fixed for the test's life, so the e-value's form never changes.
  bool shifted_ = false;
  std::vector<double> quantiles_;
  odds_ratio_mixture mixture_;
  std::vector<odds_ratio_mixture> stage_mixtures_;
  capped_evidence evidence_;
  std::vector<double> bounds_;
  std::vector<std::uint64_t> baseline_history_;  // before the current second
  std::uint64_t history_total_ = 0;
  std::vector<stage_record> stages_;
  std::uint64_t canary_requests_ = 0;
  std::uint64_t baseline_requests_ = 0;
  std::uint64_t seconds_ = 0;
  std::uint64_t rejected_at_ = 0;
};

class sequential_monitor {
 public:
  explicit sequential_monitor(const sequential_params& params);

  void update(const arm_counts& canary, const arm_counts& baseline, const histogram& canary_latency,
              const histogram& baseline_latency);
  // Traffic without latency data (for example an errors-only metric source).
  void update(const arm_counts& canary, const arm_counts& baseline);

  double evidence() const;
  bool rejected() const { return rejected_at_ > 0; }
  sequential_record record() const;
  const error_test& errors() const { return errors_; }
  const error_test& client_errors() const { return client_errors_; }
  const latency_test& latency() const { return latency_; }

 private:
  void settle();

  double alpha_;
  bool test_client_errors_;
  double error_weight_;
  double client_error_weight_;
  double latency_weight_;
  error_test errors_;
  error_test client_errors_;
  latency_test latency_;
  std::uint64_t seconds_ = 0;
  std::uint64_t rejected_at_ = 0;
};

}  // namespace cohort::analysis
