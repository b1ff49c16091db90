#include "analysis/judge.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include "common/bug.hpp"

namespace cohort::analysis {

const char* to_string(metric_outcome o) {
  switch (o) {
    case metric_outcome::pass:
      return "pass";
    case metric_outcome::high:
      return "high";
    case metric_outcome::low:
      return "low";
    case metric_outcome::nodata:
      break;
  }
  return "nodata";
}

const char* to_string(verdict v) {
  switch (v) {
    case verdict::pass:
      return "pass";
    case verdict::marginal:
      return "marginal";
    case verdict::fail:
      return "fail";
    case verdict::nodata:
      break;
  }
  return "nodata";
}

const char* to_string(direction d) {
  switch (d) {
    case direction::increase:
      return "increase";
    case direction::decrease:
      return "decrease";
    case direction::either:
      break;
  }
  return "either";
}

namespace {

std::string format(const char* fmt, double a, double b, double c) {
  char buf[160];
  std::snprintf(buf, sizeof buf, fmt, a, b, c);
  return buf;
}

}  // namespace

metric_record classify(const metric_spec& spec, const metric_samples& data, double confidence) {
  metric_record r;
  r.name = spec.name;
  r.group = spec.group;
  r.critical = spec.critical;
  r.canary_count = data.canary.size();
  r.baseline_count = data.baseline.size();
  if (data.canary.empty() || data.baseline.empty()) {
    r.outcome = metric_outcome::nodata;
    r.counted = spec.fail_on_nodata;
    r.reason = data.canary.empty() ? "no canary data" : "no baseline data";
    return r;
  }
  r.counted = true;
  r.canary_mean = data.canary.mean();
  r.baseline_mean = data.baseline.mean();
  if (r.baseline_mean != 0) {
    r.effect_size = r.canary_mean / r.baseline_mean;
  } else {
    r.effect_size = r.canary_mean == 0 ? 1.0 : std::numeric_limits<double>::infinity();
  }
  r.band = spec.tolerance * std::abs(r.baseline_mean);
  // Test the null "the shift is exactly the band's edge" rather than reading
  // the interval's ends: with binned data the interval's end can sit on a
  // pairwise difference that the test itself rejects (an open end).
  const double significance = 1.0 - confidence;
  const auto test = mann_whitney(data.canary, data.baseline,
                                 {confidence, alternative::two_sided, true, true, r.band});
  if (!test.ok()) {
    // Every observation of both arms ties: the arms are identical.
    r.outcome = metric_outcome::pass;
    r.reason = "all observations equal";
    return r;
  }
  r.test = *test;
  const bool up = spec.dir != direction::decrease;
  const bool down = spec.dir != direction::increase;
  const bool above = test->z > 0 && test->p_value < significance;
  bool below = false;
  if (down) {
    if (r.band == 0) {
      below = test->z < 0 && test->p_value < significance;
    } else {
      const auto low = mann_whitney(data.canary, data.baseline,
                                    {confidence, alternative::two_sided, true, false, -r.band});
      below = low.ok() && low->z < 0 && low->p_value < significance;
    }
  }
  if (up && above && r.effect_size > spec.allowed_increase) {
    r.outcome = metric_outcome::high;
    r.reason = format("canary higher: shift CI [%g, %g] above the band, effect %g", test->ci_low,
                      test->ci_high, r.effect_size);
  } else if (down && below && r.effect_size < spec.allowed_decrease) {
    r.outcome = metric_outcome::low;
    r.reason = format("canary lower: shift CI [%g, %g] below the band, effect %g", test->ci_low,
                      test->ci_high, r.effect_size);
  } else {
    r.outcome = metric_outcome::pass;
    r.reason = format("shift CI [%g, %g], effect %g within bounds", test->ci_low, test->ci_high,
                      r.effect_size);
  }
  return r;
}

judge_record judge(const judge_params& params, const std::vector<metric_spec>& specs,
                   const std::vector<metric_samples>& data) {
  COHORT_BUG_IF(specs.size() != data.size());
  judge_record out;
  std::map<std::string, group_record> groups;
  bool critical_failed = false;
  const std::size_t n = std::min(specs.size(), data.size());
  for (std::size_t i = 0; i < n; ++i) {
    metric_record m = classify(specs[i], data[i], params.confidence);
    group_record& g = groups[m.group];
    g.group = m.group;
    if (m.counted) {
      ++g.counted;
      if (m.outcome == metric_outcome::pass) {
        ++g.passed;
      } else if (m.critical) {
        critical_failed = true;
      }
    }
    out.metrics.push_back(std::move(m));
  }
  // Weights: listed groups take theirs; the others share the rest equally.
  double listed = 0;
  int unlisted = 0;
  for (auto& [name, g] : groups) {
    if (g.counted == 0) {
      continue;
    }
    bool found = false;
    for (const group_weight& w : params.weights) {
      if (w.group == name) {
        g.weight = w.weight;
        listed += w.weight;
        found = true;
      }
    }
    if (!found) {
      ++unlisted;
    }
  }
  const double rest = params.weights.empty() ? 100.0 : std::max(0.0, 100.0 - listed);
  double total = 0;
  for (auto& [name, g] : groups) {
    if (g.counted == 0) {
      continue;
    }
    bool found = false;
    for (const group_weight& w : params.weights) {
      found = found || w.group == name;
    }
    if (!found) {
      g.weight = unlisted > 0 ? rest / unlisted : 0.0;
    }
    total += g.weight;
  }
  double score = 0;
  for (auto& [name, g] : groups) {
    if (g.counted > 0) {
      g.score = 100.0 * g.passed / g.counted;
      g.weight = total > 0 ? g.weight / total : 0.0;
      score += g.weight * g.score;
    }
    out.groups.push_back(g);
  }
  if (total <= 0) {
    out.result = verdict::nodata;
    out.score = 0;
    out.summary = "no data in any metric";
    return out;
  }
  out.score = critical_failed ? 0.0 : score;
  if (critical_failed) {
    out.result = verdict::fail;
  } else if (out.score >= params.pass) {
    out.result = verdict::pass;
  } else if (out.score >= params.marginal) {
    out.result = verdict::marginal;
  } else {
    out.result = verdict::fail;
  }
  out.summary =
      format("score %.1f (pass %g, marginal %g)", out.score, params.pass, params.marginal);
  if (critical_failed) {
    out.summary += ", a critical metric failed";
  }
  return out;
}

}  // namespace cohort::analysis
