#include "analysis/sequential.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cohort::analysis {
namespace {

double clamp_alpha(double a) {
  return std::clamp(a, 1e-12, 1.0);
}

// e-values grow without bound under a regression; keep them printable.
double bounded_exp(double log_e) {
  return std::exp(std::min(log_e, 700.0));
}

std::string summarize(const sequential_record& r) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%s: e=%.4g (threshold %.4g) after %llu s, canary %llu/%llu, baseline %llu/%llu, "
                "odds ratio ~%.3g%s",
                r.test.c_str(), r.e_value, r.threshold, static_cast<unsigned long long>(r.seconds),
                static_cast<unsigned long long>(r.canary_events),
                static_cast<unsigned long long>(r.canary_requests),
                static_cast<unsigned long long>(r.baseline_events),
                static_cast<unsigned long long>(r.baseline_requests), r.odds_ratio,
                r.rejected ? ", rejected" : "");
  return buf;
}

// Ville's inequality: rejecting once the e-value reaches 1/alpha keeps the
// chance of ever rejecting a healthy canary at most alpha.
bool crossed(const odds_ratio_mixture& mixture, double alpha) {
  return mixture.log_evidence() >= -std::log(alpha);
}

// The evidence half of a record, the same for every test built on a mixture.
void add_evidence(sequential_record& r, const odds_ratio_mixture& mixture, double alpha,
                  std::uint64_t rejected_at) {
  r.log_e_value = mixture.log_evidence();
  r.e_value = bounded_exp(r.log_e_value);
  r.threshold = 1.0 / alpha;
  r.odds_ratio = mixture.best_odds_ratio();
  r.rejected = rejected_at > 0;
  r.rejected_at = rejected_at;
  r.summary = summarize(r);
}

}  // namespace

// ---- errors ----------------------------------------------------------------

error_test::error_test(const sequential_params& params)
    : alpha_(clamp_alpha(params.alpha)),
      mixture_(1.0 + std::max(0.0, params.tolerance), params.error_grid) {}

void error_test::update(const arm_counts& canary, const arm_counts& baseline) {
  ++seconds_;
  canary_.requests += canary.requests;
  canary_.errors += canary.errors;
  baseline_.requests += baseline.requests;
  baseline_.errors += baseline.errors;
  mixture_.observe(canary.requests, baseline.requests, std::min(canary.errors, canary.requests),
                   std::min(baseline.errors, baseline.requests));
  if (rejected_at_ == 0 && crossed(mixture_, alpha_)) {
    rejected_at_ = seconds_;
  }
}

double error_test::evidence() const {
  return bounded_exp(mixture_.log_evidence());
}

sequential_record error_test::record() const {
  sequential_record r;
  r.test = "errors";
  r.seconds = seconds_;
  r.canary_requests = canary_.requests;
  r.baseline_requests = baseline_.requests;
  r.canary_events = canary_.errors;
  r.baseline_events = baseline_.errors;
  add_evidence(r, mixture_, alpha_, rejected_at_);
  return r;
}

// ---- latency ---------------------------------------------------------------

latency_test::latency_test(const sequential_params& params)
    : alpha_(clamp_alpha(params.alpha)),
      min_tail_(params.min_tail_requests),
      quantiles_(params.latency_quantiles),
      mixture_(1.0 + std::max(0.0, params.tolerance), params.latency_grid) {
  std::sort(quantiles_.begin(), quantiles_.end());
  quantiles_.erase(std::remove_if(quantiles_.begin(), quantiles_.end(),
                                  [](double q) { return !(q > 0.0 && q < 1.0); }),
                   quantiles_.end());
  quantiles_.erase(std::unique(quantiles_.begin(), quantiles_.end()), quantiles_.end());
  for (double q : quantiles_) {
    stages_.push_back({q, 0.0, 0, 0});
  }
}

bool latency_test::update(const histogram& canary, const histogram& baseline) {
  if (!canary.same_layout(baseline) || canary.counts.size() != canary.upper_bounds.size()) {
    return false;
  }
  ++seconds_;
  if (bounds_ != canary.upper_bounds) {
    // New bucket layout: the history in the old one cannot set thresholds.
    bounds_ = canary.upper_bounds;
    baseline_history_.assign(bounds_.size(), 0);
    history_total_ = 0;
  }
  const std::size_t nb = bounds_.size();
  // Requests strictly above each bucket, per arm, for this second.
  std::vector<std::uint64_t> above_c(nb, 0);
  std::vector<std::uint64_t> above_b(nb, 0);
  std::uint64_t run_c = 0;
  std::uint64_t run_b = 0;
  for (std::size_t i = nb; i-- > 0;) {
    above_c[i] = run_c;
    above_b[i] = run_b;
    run_c += canary.counts[i];
    run_b += baseline.counts[i];
  }
  canary_requests_ += run_c;
  baseline_requests_ += run_b;

  // Thresholds from the baseline's history only: fixed before this second's
  // requests are seen, and the same for both arms.
  std::uint64_t pop_c = run_c;
  std::uint64_t pop_b = run_b;
  std::size_t previous = nb;  // bucket of the previous stage's threshold
  for (stage_record& s : stages_) {
    const double tail = static_cast<double>(history_total_) * (1.0 - s.quantile);
    if (history_total_ == 0 || tail < min_tail_) {
      continue;
    }
    const double want = s.quantile * static_cast<double>(history_total_);
    std::uint64_t cum = 0;
    std::size_t t = 0;
    for (; t < nb; ++t) {
      cum += baseline_history_[t];
      if (static_cast<double>(cum) >= want) {
        break;
      }
    }
    if (t + 1 >= nb || (previous != nb && t <= previous)) {
      continue;  // nothing above it, or the same bucket as a lower quantile
    }
    s.threshold_seconds = bounds_[t];
    // Among the requests above the previous threshold, which exceed this one.
    const std::uint64_t k_c = above_c[t];
    const std::uint64_t k_b = above_b[t];
    s.canary_exceed += k_c;
    s.baseline_exceed += k_b;
    mixture_.observe(pop_c, pop_b, k_c, k_b);
    pop_c = k_c;
    pop_b = k_b;
    previous = t;
  }

  for (std::size_t i = 0; i < nb; ++i) {
    baseline_history_[i] += baseline.counts[i];
  }
  history_total_ += run_b;
  if (rejected_at_ == 0 && crossed(mixture_, alpha_)) {
    rejected_at_ = seconds_;
  }
  return true;
}

double latency_test::evidence() const {
  return bounded_exp(mixture_.log_evidence());
}

sequential_record latency_test::record() const {
  sequential_record r;
  r.test = "latency";
  r.seconds = seconds_;
  r.canary_requests = canary_requests_;
  r.baseline_requests = baseline_requests_;
  for (const stage_record& s : stages_) {
    if (s.threshold_seconds > 0) {
      r.canary_events = s.canary_exceed;
      r.baseline_events = s.baseline_exceed;
    }
  }
  r.stages = stages_;
  add_evidence(r, mixture_, alpha_, rejected_at_);
  return r;
}

// ---- both ------------------------------------------------------------------

sequential_monitor::sequential_monitor(const sequential_params& params)
    : alpha_(clamp_alpha(params.alpha)),
      error_weight_(std::clamp(params.error_weight, 0.0, 1.0)),
      errors_(params),
      latency_(params) {}

void sequential_monitor::update(const arm_counts& canary, const arm_counts& baseline,
                                const histogram& canary_latency,
                                const histogram& baseline_latency) {
  errors_.update(canary, baseline);
  latency_.update(canary_latency, baseline_latency);
  settle();
}

void sequential_monitor::update(const arm_counts& canary, const arm_counts& baseline) {
  errors_.update(canary, baseline);
  settle();
}

void sequential_monitor::settle() {
  ++seconds_;
  if (rejected_at_ == 0 && evidence() >= 1.0 / alpha_) {
    rejected_at_ = seconds_;
  }
}

double sequential_monitor::evidence() const {
  // A weighted average of e-processes is an e-process: alpha is spent once.
  return error_weight_ * errors_.evidence() + (1.0 - error_weight_) * latency_.evidence();
}

sequential_record sequential_monitor::record() const {
  sequential_record r = errors_.record();
  r.test = "sequential";
  r.seconds = seconds_;
  r.e_value = evidence();
  r.log_e_value = std::log(r.e_value);
  r.threshold = 1.0 / alpha_;
  r.rejected = rejected();
  r.rejected_at = rejected_at_;
  r.stages = latency_.record().stages;
  r.summary = "sequential: e=" + std::to_string(r.e_value) + " threshold " +
              std::to_string(r.threshold) + (r.rejected ? " rejected" : "") + "; " +
              errors_.record().summary + "; " + latency_.record().summary;
  return r;
}

}  // namespace cohort::analysis
