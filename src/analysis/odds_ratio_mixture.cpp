#include "analysis/odds_ratio_mixture.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace cohort::analysis {
namespace {

double log_sum_exp(const std::vector<double>& a, const std::vector<double>& b) {
  double m = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < a.size(); ++i) {
    m = std::max(m, a[i] + b[i]);
  }
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    s += std::exp(a[i] + b[i] - m);
  }
  return m + std::log(s);
}

}  // namespace

odds_ratio_mixture::odds_ratio_mixture(double null_odds_ratio, const mixture_grid& grid)
    : log_w0_(std::log(std::max(1.0, null_odds_ratio))) {
  const int n = std::max(1, grid.points);
  const double a = std::log(std::max(1.0, grid.min_ratio));
  const double b = std::log(std::max(grid.min_ratio, grid.max_ratio));
  for (int i = 0; i < n; ++i) {
    const double t = n == 1 ? 0.0 : static_cast<double>(i) / (n - 1);
    log_w_.push_back(log_w0_ + a + t * (b - a));
    inv_w_.push_back(std::exp(-log_w_.back()));
    log_prior_.push_back(-std::log(static_cast<double>(n)));
    log_lr_.push_back(0.0);
  }
}

// log of sum_j h_j w^j for the current table, h scaled as in h_. Horner's
// scheme in 1/w (w >= 1) cannot overflow; when the sum would underflow it
// is recomputed term by term in logs.
double odds_ratio_mixture::log_z(double log_w, double x) const {
  double acc = 0;
  for (double h : h_) {
    acc = acc * x + h;
  }
  if (acc > 1e-280) {
    return static_cast<double>(hi_) * log_w + std::log(acc);
  }
  double m = -std::numeric_limits<double>::infinity();
  for (std::size_t j = 0; j < h_.size(); ++j) {
    if (h_[j] > 0) {
      m = std::max(m, std::log(h_[j]) + static_cast<double>(lo_ + j) * log_w);
    }
  }
  double s = 0;
  for (std::size_t j = 0; j < h_.size(); ++j) {
    if (h_[j] > 0) {
      s += std::exp(std::log(h_[j]) + static_cast<double>(lo_ + j) * log_w - m);
    }
  }
  return m + std::log(s);
}

void odds_ratio_mixture::observe(std::uint64_t canary_requests, std::uint64_t baseline_requests,
                                 std::uint64_t canary_events, std::uint64_t baseline_events) {
  const std::uint64_t n1 = canary_requests;
  const std::uint64_t n2 = baseline_requests;
  const std::uint64_t e = canary_events + baseline_events;
  const std::uint64_t k = canary_events;
  if (n1 == 0 || n2 == 0 || e == 0 || canary_events > n1 || baseline_events > n2) {
    return;  // one arm silent or no events: the table carries no evidence
  }
  lo_ = e > n2 ? e - n2 : 0;
  hi_ = std::min(n1, e);
  if (lo_ == hi_) {
    return;  // the margins decide the table
  }
  // Central hypergeometric weights C(n1, j) C(n2, e - j), by the ratio of
  // consecutive terms, in logs and then scaled so the largest is 1.
  h_.assign(hi_ - lo_ + 1, 0.0);
  double lh = 0;
  double top = 0;
  for (std::uint64_t j = lo_; j < hi_; ++j) {
    const double num = static_cast<double>(n1 - j) * static_cast<double>(e - j);
    const double den = static_cast<double>(j + 1) * static_cast<double>(n2 - e + j + 1);
    h_[j - lo_] = lh;
    lh += std::log(num / den);
    top = std::max(top, lh);
  }
  h_[hi_ - lo_] = lh;
  for (double& v : h_) {
    v = std::exp(v - top);
  }
  const double z0 = log_z(log_w0_, std::exp(-log_w0_));
  const double kk = static_cast<double>(k);
  for (std::size_t i = 0; i < log_w_.size(); ++i) {
    log_lr_[i] += kk * (log_w_[i] - log_w0_) + z0 - log_z(log_w_[i], inv_w_[i]);
  }
  log_evidence_ = log_sum_exp(log_lr_, log_prior_);
}

double odds_ratio_mixture::best_odds_ratio() const {
  double best = 0;
  double w = log_w0_;
  for (std::size_t i = 0; i < log_w_.size(); ++i) {
    if (log_lr_[i] > best) {
      best = log_lr_[i];
      w = log_w_[i];
    }
  }
  return std::exp(w);
}

}  // namespace cohort::analysis
