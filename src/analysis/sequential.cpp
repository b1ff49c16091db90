#include "analysis/sequential.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

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
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "%s: e=%.4g (threshold %.4g) after %llu s, canary %llu/%llu, baseline %llu/%llu, "
                "odds ratio ~%.3g",
                r.test.c_str(), r.e_value, r.threshold, static_cast<unsigned long long>(r.seconds),
                static_cast<unsigned long long>(r.canary_events),
                static_cast<unsigned long long>(r.canary_requests),
                static_cast<unsigned long long>(r.baseline_events),
                static_cast<unsigned long long>(r.baseline_requests), r.odds_ratio);
  std::string s = buf;
  if (r.capped_seconds > 0) {
    s += ", " + std::to_string(r.capped_seconds) + " s capped";
  }
  return r.rejected ? s + ", rejected" : s;
}

double log_sum(double a, double b) {
  if (a == -std::numeric_limits<double>::infinity()) {
    return b;
  }
  const double m = std::max(a, b);
  return m + std::log(std::exp(a - m) + std::exp(b - m));
}

// Ville's inequality: rejecting once the e-value reaches 1/alpha keeps the
// chance of ever rejecting a healthy canary at most alpha.
bool crossed(double log_e, double alpha) {
  return log_e >= -std::log(alpha);
}

// The evidence half of a record, the same for every test.
void add_evidence(sequential_record& r, const capped_evidence& e, double odds_ratio, double alpha,
                  std::uint64_t rejected_at) {
  r.log_e_value = e.log_evidence();
  r.e_value = bounded_exp(r.log_e_value);
  r.threshold = 1.0 / alpha;
  r.odds_ratio = odds_ratio;
  r.rejected = rejected_at > 0;
  r.rejected_at = rejected_at;
  r.capped_seconds = e.capped_seconds();
  r.summary = summarize(r);
}

}  // namespace

// ---- capped evidence -------------------------------------------------------

capped_evidence::capped_evidence(double max_step) : log_cap_(std::log(std::max(1.0, max_step))) {}

void capped_evidence::step(double raw_log_e) {
  const double factor = raw_log_e - raw_;
  raw_ = raw_log_e;
  if (factor > log_cap_) {
    ++capped_;
  }
  log_e_ += std::min(factor, log_cap_);
}

// ---- errors ----------------------------------------------------------------

error_test::error_test(const sequential_params& params, error_kind kind)
    : alpha_(clamp_alpha(params.alpha)),
      kind_(kind),
      mixture_(1.0 + std::max(0.0, params.tolerance), params.error_grid),
      evidence_(params.max_step_per_second) {}

void error_test::update(const arm_counts& canary, const arm_counts& baseline) {
  const auto events = [this](const arm_counts& a) {
    return std::min(kind_ == error_kind::server ? a.errors : a.client_errors, a.requests);
  };
  ++seconds_;
  canary_requests_ += canary.requests;
  canary_events_ += events(canary);
  baseline_requests_ += baseline.requests;
  baseline_events_ += events(baseline);
  mixture_.observe(canary.requests, baseline.requests, events(canary), events(baseline));
  evidence_.step(mixture_.log_evidence());
  if (rejected_at_ == 0 && crossed(evidence_.log_evidence(), alpha_)) {
    rejected_at_ = seconds_;
  }
}

double error_test::evidence() const {
  return bounded_exp(evidence_.log_evidence());
}

sequential_record error_test::record() const {
  sequential_record r;
  r.test = kind_ == error_kind::server ? "errors" : "4xx";
  r.seconds = seconds_;
  r.canary_requests = canary_requests_;
  r.baseline_requests = baseline_requests_;
  r.canary_events = canary_events_;
  r.baseline_events = baseline_events_;
  add_evidence(r, evidence_, mixture_.best_odds_ratio(), alpha_, rejected_at_);
  return r;
}

// ---- latency ---------------------------------------------------------------

latency_test::latency_test(const sequential_params& params)
    : alpha_(clamp_alpha(params.alpha)),
      min_tail_(params.min_tail_requests),
      slack_(1.0 + std::max(0.0, params.tolerance)),
      floor_(std::max(0.0, params.latency_floor)),
      stage_weight_(std::clamp(params.stage_weight, 0.0, 1.0)),
      shifted_(slack_ > 1.0 || floor_ > 0.0),
      quantiles_(params.latency_quantiles),
      // The tolerance is applied to the latencies themselves (slack_), so the
      // odds are compared without further slack.
      mixture_(1.0, params.latency_grid),
      evidence_(params.max_step_per_second) {
  std::sort(quantiles_.begin(), quantiles_.end());
  quantiles_.erase(std::remove_if(quantiles_.begin(), quantiles_.end(),
                                  [](double q) { return !(q > 0.0 && q < 1.0); }),
                   quantiles_.end());
  quantiles_.erase(std::unique(quantiles_.begin(), quantiles_.end()), quantiles_.end());
  for (double q : quantiles_) {
    stages_.push_back({q, 0.0, 0.0, 0, 0, 1.0});
    stage_mixtures_.emplace_back(1.0, params.stage_grid);
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
  // requests are seen.
  std::uint64_t pop_c = run_c;
  std::uint64_t pop_b = run_b;
  std::size_t previous = nb;  // bucket of the previous stage's threshold
  for (std::size_t s = 0; s < stages_.size(); ++s) {
    stage_record& st = stages_[s];
    const double tail = static_cast<double>(history_total_) * (1.0 - st.quantile);
    if (history_total_ == 0 || tail < min_tail_) {
      continue;
    }
    const double want = st.quantile * static_cast<double>(history_total_);
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
    // A canary request counts as above the threshold when it is above
    // T * slack + floor, at the histogram's resolution: the canary's threshold
    // is the bucket edge nearest to that, never below T. Rounding every
    // threshold up (conservative to the last bucket) made a floor of any size
    // cost a whole bucket, 3-6% of the latency: a 20% slowdown looked like
    // 15% and took twice the requests to find (docs/analysis.md).
    const double canary_threshold = bounds_[t] * slack_ + floor_;
    auto u = static_cast<std::size_t>(
        std::lower_bound(bounds_.begin(), bounds_.end(), canary_threshold) - bounds_.begin());
    if (u > t && u < nb && canary_threshold - bounds_[u - 1] < bounds_[u] - canary_threshold) {
      --u;
    }
    const std::uint64_t k_c = u < nb ? above_c[u] : 0;
    const std::uint64_t k_b = above_b[t];
    if (shifted_) {
      // The canary's threshold is above the baseline's. Then only
      // unconditional tables are valid: "above T among those above the
      // previous threshold" compares hazard rates, and a shifted heavy tail
      // (a scheduling delay on a busy machine) has a higher conditional
      // survival than the unshifted one: identical arms at 0.3 ms with 5% of
      // requests delayed by Exp(2 ms) were rolled back in 100% of simulated
      // runs (and in 82% of real sub-ms A/A runs). Each stage is its own test
      // on all of the second's requests; the latency e-value averages them.
      st.threshold_seconds = bounds_[t];
      st.canary_threshold_seconds = u < nb ? bounds_[u] : bounds_.back();
      st.canary_exceed += k_c;
      st.baseline_exceed += k_b;
      stage_mixtures_[s].observe(run_c, run_b, std::min(k_c, run_c), k_b);
      st.e_value = bounded_exp(stage_mixtures_[s].log_evidence());
      previous = t;
      continue;
    }
    st.threshold_seconds = bounds_[t];
    st.canary_threshold_seconds = u < nb ? bounds_[u] : bounds_.back();
    st.canary_exceed += k_c;
    st.baseline_exceed += k_b;
    // Among the requests above the previous threshold, which exceed this one.
    const std::uint64_t e_c = std::min(k_c, pop_c);
    mixture_.observe(pop_c, pop_b, e_c, k_b);
    stage_mixtures_[s].observe(pop_c, pop_b, e_c, k_b);
    st.e_value = bounded_exp(stage_mixtures_[s].log_evidence());
    pop_c = e_c;
    pop_b = k_b;
    previous = t;
  }

  for (std::size_t i = 0; i < nb; ++i) {
    baseline_history_[i] += baseline.counts[i];
  }
  history_total_ += run_b;
  evidence_.step(raw_log_evidence());
  if (rejected_at_ == 0 && crossed(evidence_.log_evidence(), alpha_)) {
    rejected_at_ = seconds_;
  }
  return true;
}

double latency_test::raw_log_evidence() const {
  // A weighted average of e-processes on the same seconds is an e-process.
  double stages = -std::numeric_limits<double>::infinity();
  for (const odds_ratio_mixture& m : stage_mixtures_) {
    stages = log_sum(stages, m.log_evidence());
  }
  if (shifted_) {
    // Unconditional stages only (see update): the shared chain saw nothing.
    return stages - std::log(static_cast<double>(stage_mixtures_.size()));
  }
  if (stage_mixtures_.empty() || stage_weight_ <= 0) {
    return mixture_.log_evidence();
  }
  stages += std::log(stage_weight_ / static_cast<double>(stage_mixtures_.size()));
  if (stage_weight_ >= 1) {
    return stages;
  }
  return log_sum(std::log(1.0 - stage_weight_) + mixture_.log_evidence(), stages);
}

double latency_test::evidence() const {
  return bounded_exp(evidence_.log_evidence());
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
  add_evidence(r, evidence_, mixture_.best_odds_ratio(), alpha_, rejected_at_);
  return r;
}

// ---- both ------------------------------------------------------------------

namespace {

// The monitor's weights, normalised over the tests it runs.
struct weights {
  double errors;
  double client_errors;
  double latency;
};

weights monitor_weights(const sequential_params& p) {
  const double e = std::clamp(p.error_weight, 0.0, 1.0);
  const double c = p.client_errors ? std::clamp(p.client_error_weight, 0.0, 1.0 - e) : 0.0;
  const double l = 1.0 - e - std::clamp(p.client_error_weight, 0.0, 1.0 - e);
  const double sum = e + c + l;
  if (sum <= 0) {
    return {1.0, 0.0, 0.0};
  }
  return {e / sum, c / sum, l / sum};
}

}  // namespace

sequential_monitor::sequential_monitor(const sequential_params& params)
    : alpha_(clamp_alpha(params.alpha)),
      test_client_errors_(params.client_errors),
      error_weight_(monitor_weights(params).errors),
      client_error_weight_(monitor_weights(params).client_errors),
      latency_weight_(monitor_weights(params).latency),
      errors_(params, error_kind::server),
      client_errors_(params, error_kind::client),
      latency_(params) {}

void sequential_monitor::update(const arm_counts& canary, const arm_counts& baseline,
                                const histogram& canary_latency,
                                const histogram& baseline_latency) {
  latency_.update(canary_latency, baseline_latency);
  update(canary, baseline);
}

void sequential_monitor::update(const arm_counts& canary, const arm_counts& baseline) {
  errors_.update(canary, baseline);
  if (test_client_errors_) {
    client_errors_.update(canary, baseline);
  }
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
  return error_weight_ * errors_.evidence() + client_error_weight_ * client_errors_.evidence() +
         latency_weight_ * latency_.evidence();
}

sequential_record sequential_monitor::record() const {
  sequential_record r = errors_.record();
  const sequential_record lat = latency_.record();
  r.test = "sequential";
  r.seconds = seconds_;
  r.e_value = evidence();
  r.log_e_value = std::log(r.e_value);
  r.threshold = 1.0 / alpha_;
  r.rejected = rejected();
  r.rejected_at = rejected_at_;
  r.capped_seconds = std::max(r.capped_seconds, lat.capped_seconds);
  r.stages = lat.stages;
  char head[128];
  std::snprintf(head, sizeof head, "sequential: e=%.4g (threshold %.4g)%s", r.e_value, r.threshold,
                r.rejected ? ", rejected" : "");
  r.summary = std::string(head) + "; " + errors_.record().summary;
  if (test_client_errors_) {
    const sequential_record ce = client_errors_.record();
    r.capped_seconds = std::max(r.capped_seconds, ce.capped_seconds);
    r.summary += "; " + ce.summary;
  }
  r.summary += "; " + lat.summary;
  return r;
}

}  // namespace cohort::analysis
