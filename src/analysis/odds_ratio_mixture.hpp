#pragma once
// The engine of the sequential tests: an e-process for "the canary's events
// are more likely than the baseline's", fed one 2x2 table at a time
// (requests and events of each arm in one second).
//
// Given the table's margins, the canary's share of the events follows the
// hypergeometric law when both arms have the same event probability, and
// Fisher's noncentral hypergeometric law with odds ratio w otherwise. The
// likelihood ratio of w against the null's w0 therefore has expectation at
// most 1 under the null, whatever the margins, the arm sizes or the event rate
// of that second (it may drift, as long as it drifts for both arms). The
// product over seconds is a test martingale; a fixed mixture over a grid of
// w keeps that property, and Ville's inequality bounds the chance it ever
// reaches 1/alpha by alpha.

#include <cstdint>
#include <vector>

namespace cohort::analysis {

struct mixture_grid {
  // Alternatives w = w0 * r for r log-spaced in [min_ratio, max_ratio], with
  // equal prior weight on each point.
  double min_ratio = 1.1;
  double max_ratio = 30.0;
  int points = 32;
};

class odds_ratio_mixture {
 public:
  // null_odds_ratio >= 1: the canary may have this much higher odds of an
  // event before it counts as a regression (the tolerance).
  odds_ratio_mixture(double null_odds_ratio, const mixture_grid& grid);

  // One table: requests and events of each arm. Events <= requests.
  void observe(std::uint64_t canary_requests, std::uint64_t baseline_requests,
               std::uint64_t canary_events, std::uint64_t baseline_events);

  double log_evidence() const { return log_evidence_; }
  // The grid point with the highest likelihood so far (w0 before any data).
  double best_odds_ratio() const;

 private:
  double log_z(double log_w, double inv_w) const;

  double log_w0_;
  std::vector<double> log_w_;      // grid, log odds ratios
  std::vector<double> inv_w_;      // grid, 1 / odds ratio
  std::vector<double> log_prior_;  // log prior weights
  std::vector<double> log_lr_;     // running log likelihood ratio per grid point
  double log_evidence_ = 0.0;
  // Scratch for one table: hypergeometric weights scaled to a maximum of 1.
  std::vector<double> h_;
  std::uint64_t lo_ = 0;
  std::uint64_t hi_ = 0;
};

}  // namespace cohort::analysis
