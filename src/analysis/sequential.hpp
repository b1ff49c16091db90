#pragma once
// Anytime-valid regression tests, updated once per second with that second's
// new counts, safe to read after every update: under "the canary is no worse
// than the baseline", the chance that the evidence ever reaches 1/alpha during
// the whole rollout is at most alpha. No traffic adds no evidence, so a quiet
// canary is never rolled back for being quiet.
//
//  - error_test: canary errors against baseline errors, one 2x2 table per
//    second (see odds_ratio_mixture).
//  - latency_test: both arms' requests of a second are classified against
//    thresholds taken from the baseline's latency before that second (its
//    p50, p75, p90, p95, p99), and the canary's exceedances are tested against
//    the baseline's exactly like errors, one stage per threshold.
//  - sequential_monitor: both, sharing alpha, latched once it rejects.

#include <cstdint>
#include <string>
#include <vector>

#include "analysis/odds_ratio_mixture.hpp"
#include "analysis/sample.hpp"

namespace cohort::analysis {

struct sequential_params {
  double alpha = 0.01;
  // Relative slack on the odds of an error or a slow request: 0.1 lets the
  // canary be 10% worse before it counts as a regression.
  double tolerance = 0.0;
  // Baseline quantiles whose values become the latency thresholds.
  std::vector<double> latency_quantiles = {0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99};
  // A quantile is used once the baseline has seen enough requests that about
  // this many lie above it; until then its threshold is too coarse to help.
  double min_tail_requests = 5;
  mixture_grid error_grid = {1.25, 40.0, 32};
  mixture_grid latency_grid = {1.05, 4.0, 32};
  // The monitor's e-value is error_weight * errors + (1 - error_weight) * latency.
  double error_weight = 0.5;
};

struct stage_record {
  double quantile = 0;
  double threshold_seconds = 0;       // the latest threshold (0 until known)
  std::uint64_t canary_exceed = 0;    // cumulative
  std::uint64_t baseline_exceed = 0;  // cumulative
};

struct sequential_record {
  std::string test;  // "errors", "latency" or "sequential"
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
  std::uint64_t rejected_at = 0;  // seconds when it first rejected
  std::vector<stage_record> stages;
  std::string summary;
};

class error_test {
 public:
  explicit error_test(const sequential_params& params);

  // One second's new requests and errors of each arm.
  void update(const arm_counts& canary, const arm_counts& baseline);

  double evidence() const;
  double log_evidence() const { return mixture_.log_evidence(); }
  bool rejected() const { return rejected_at_ > 0; }
  sequential_record record() const;

 private:
  double alpha_;
  odds_ratio_mixture mixture_;
  arm_counts canary_;
  arm_counts baseline_;
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
  double log_evidence() const { return mixture_.log_evidence(); }
  bool rejected() const { return rejected_at_ > 0; }
  sequential_record record() const;

 private:
  double alpha_;
  double min_tail_;
  std::vector<double> quantiles_;
  odds_ratio_mixture mixture_;
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
  const latency_test& latency() const { return latency_; }

 private:
  void settle();

  double alpha_;
  double error_weight_;
  error_test errors_;
  latency_test latency_;
  std::uint64_t seconds_ = 0;
  std::uint64_t rejected_at_ = 0;
};

}  // namespace cohort::analysis
