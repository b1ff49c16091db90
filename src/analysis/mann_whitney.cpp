#include "analysis/mann_whitney.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "analysis/normal.hpp"

namespace cohort::analysis {
namespace {

// W - n_x n_y / 2 and the tie term sum(t^3 - t) of the pooled sample, with x
// shifted down by d. Both samples are sorted, so one merge pass does it.
struct rank_summary {
  double centered_w = 0;
  double tie_term = 0;
};

rank_summary summarize(const weighted_sample& x, const weighted_sample& y, double d) {
  rank_summary out;
  double w = 0;
  double y_below = 0;
  std::size_t i = 0;
  std::size_t j = 0;
  const std::size_t nx = x.values.size();
  const std::size_t ny = y.values.size();
  while (i < nx || j < ny) {
    // Subtract exactly as R does (x - d), so ties form where R's form.
    const double vx = i < nx ? x.values[i] - d : std::numeric_limits<double>::infinity();
    const double vy = j < ny ? y.values[j] : std::numeric_limits<double>::infinity();
    const double v = std::min(vx, vy);
    double tx = 0;
    double ty = 0;
    while (i < nx && x.values[i] - d == v) {
      tx += x.weights[i];
      ++i;
    }
    while (j < ny && y.values[j] == v) {
      ty += y.weights[j];
      ++j;
    }
    w += tx * (y_below + 0.5 * ty);
    y_below += ty;
    const double t = tx + ty;
    out.tie_term += t * t * t - t;
  }
  out.centered_w = w - 0.5 * x.size() * y.size();
  return out;
}

double correction(double centered_w, alternative alt) {
  switch (alt) {
    case alternative::greater:
      return 0.5;
    case alternative::less:
      return -0.5;
    case alternative::two_sided:
      break;
  }
  return centered_w > 0 ? 0.5 : (centered_w < 0 ? -0.5 : 0.0);
}

double sigma_of(double nx, double ny, double tie_term) {
  const double n = nx + ny;
  const double var = (nx * ny / 12.0) * ((n + 1.0) - tie_term / (n * (n - 1.0)));
  return var > 0 ? std::sqrt(var) : 0.0;
}

class shift_solver {
 public:
  shift_solver(const weighted_sample& x, const weighted_sample& y, alternative alt)
      : x_(x), y_(y), alt_(alt) {
    diffs_.reserve(x.values.size() * y.values.size());
    for (double a : x.values) {
      for (double b : y.values) {
        diffs_.push_back(a - b);
      }
    }
    std::sort(diffs_.begin(), diffs_.end());
    diffs_.erase(std::unique(diffs_.begin(), diffs_.end()), diffs_.end());
  }

  // The standardised statistic at shift d (R's W(d) inside wilcox.test).
  double standardized(double d, bool continuity) const {
    const rank_summary s = summarize(x_, y_, d);
    const double sigma = sigma_of(x_.size(), y_.size(), s.tie_term);
    const double c = continuity ? correction(s.centered_w, alt_) : 0.0;
    return (s.centered_w - c) / sigma;
  }

  // Where standardized(d) - zq changes sign. The statistic is a step function
  // of d that only moves at pairwise differences, so the crossing is one of
  // them; R's uniroot lands within its tolerance of the same point. Evaluating
  // at the differences and between them makes the answer exact.
  double root(double zq, bool continuity, bool clamp) const {
    const std::size_t m = diffs_.size();
    auto f = [&](std::size_t pos) {
      const std::size_t k = pos / 2;
      const double d = pos % 2 == 0 ? diffs_[k] : 0.5 * (diffs_[k] + diffs_[k + 1]);
      return standardized(d, continuity) - zq;
    };
    const std::size_t last = 2 * (m - 1);
    if (clamp) {
      if (f(0) <= 0) {
        return diffs_.front();
      }
      if (f(last) >= 0) {
        return diffs_.back();
      }
    }
    std::size_t lo = 0;
    std::size_t hi = last;
    while (hi - lo > 1) {
      const std::size_t mid = lo + (hi - lo) / 2;
      const double v = f(mid);
      if (v > 0) {
        lo = mid;
      } else if (v < 0) {
        hi = mid;
      } else if (mid % 2 == 1) {
        // Flat zero between two differences (an even split for the estimate):
        // any point of it solves the equation; take its middle, as the
        // median of the pairwise differences does.
        return 0.5 * (diffs_[mid / 2] + diffs_[mid / 2 + 1]);
      } else {
        return diffs_[mid / 2];
      }
    }
    // One of lo, hi is a difference and the other the gap next to it.
    return lo % 2 == 0 ? diffs_[lo / 2] : diffs_[hi / 2];
  }

  bool single_point() const { return diffs_.size() < 2; }
  double only() const { return diffs_.front(); }

 private:
  const weighted_sample& x_;
  const weighted_sample& y_;
  alternative alt_;
  std::vector<double> diffs_;
};

}  // namespace

result<mann_whitney_result> mann_whitney(const weighted_sample& x, const weighted_sample& y,
                                         const mann_whitney_options& options) {
  if (x.empty() || y.empty()) {
    return error{"mann-whitney: a sample is empty"};
  }
  mann_whitney_result r;
  r.n_x = x.size();
  r.n_y = y.size();
  const rank_summary s = summarize(x, y, options.mu);
  const double sigma = sigma_of(r.n_x, r.n_y, s.tie_term);
  if (!(sigma > 0)) {
    return error{"mann-whitney: all observations are tied"};
  }
  r.statistic = s.centered_w + 0.5 * r.n_x * r.n_y;
  const double c = options.continuity ? correction(s.centered_w, options.alt) : 0.0;
  r.z = (s.centered_w - c) / sigma;
  switch (options.alt) {
    case alternative::less:
      r.p_value = normal_cdf(r.z);
      break;
    case alternative::greater:
      r.p_value = normal_upper(r.z);
      break;
    case alternative::two_sided:
      r.p_value = std::min(1.0, 2.0 * std::min(normal_cdf(r.z), normal_upper(r.z)));
      break;
  }
  if (!options.conf_int) {
    r.estimate = r.ci_low = r.ci_high = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  r.confidence = options.confidence;
  const shift_solver solver(x, y, options.alt);
  if (solver.single_point()) {
    // One value per arm: every shift but one leaves all pairs on one side.
    r.estimate = r.ci_low = r.ci_high = solver.only();
    return r;
  }
  const double a = 1.0 - options.confidence;
  const double inf = std::numeric_limits<double>::infinity();
  switch (options.alt) {
    case alternative::two_sided:
      r.ci_low = solver.root(normal_quantile(1.0 - a / 2.0), options.continuity, true);
      r.ci_high = solver.root(normal_quantile(a / 2.0), options.continuity, true);
      break;
    case alternative::greater:
      r.ci_low = solver.root(normal_quantile(1.0 - a), options.continuity, true);
      r.ci_high = inf;
      break;
    case alternative::less:
      r.ci_low = -inf;
      r.ci_high = solver.root(normal_quantile(a), options.continuity, true);
      break;
  }
  // R estimates without the continuity correction.
  r.estimate = solver.root(0.0, false, false);
  return r;
}

}  // namespace cohort::analysis
