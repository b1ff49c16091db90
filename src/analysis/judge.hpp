#pragma once
// The comparative judge (Kayenta's model): each metric of the canary is
// compared with the same metric of the baseline by a Mann-Whitney test; a
// metric fails when the shift is significant, outside its tolerance band and
// larger than the allowed effect size in the direction that hurts. Passing
// metrics score their group; groups weigh into a 0-100 score.

#include <optional>
#include <string>
#include <vector>

#include "analysis/mann_whitney.hpp"
#include "analysis/sample.hpp"

namespace cohort::analysis {

// Which change of the metric is a regression.
enum class direction { increase, decrease, either };

struct metric_spec {
  std::string name;
  std::string group = "default";
  direction dir = direction::increase;
  // A shift smaller than tolerance x |baseline mean| is never a regression.
  double tolerance = 0.0;
  // canary mean / baseline mean must exceed this (or fall below
  // allowed_decrease) for a significant shift to count.
  double allowed_increase = 1.0;
  double allowed_decrease = 1.0;
  // A critical metric that fails fails the whole judgement.
  bool critical = false;
  // Without data in an arm the metric is left out of the score, unless this
  // is set, in which case it counts as failed.
  bool fail_on_nodata = false;
};

struct metric_samples {
  weighted_sample canary;
  weighted_sample baseline;
};

struct group_weight {
  std::string group;
  double weight = 1.0;
};

struct judge_params {
  double confidence = 0.98;
  double pass = 95;      // score >= pass: pass
  double marginal = 75;  // marginal <= score < pass: marginal; below: fail
  // Groups without an entry share what the listed weights leave of 100; with
  // no entries at all every group weighs the same.
  std::vector<group_weight> weights;
};

enum class metric_outcome { pass, high, low, nodata };
enum class verdict { pass, marginal, fail, nodata };

const char* to_string(metric_outcome o);
const char* to_string(verdict v);
const char* to_string(direction d);

// Everything a reader needs to see why a metric was classified as it was.
struct metric_record {
  std::string name;
  std::string group;
  metric_outcome outcome = metric_outcome::nodata;
  bool counted = false;  // part of the score
  bool critical = false;
  double canary_count = 0;
  double baseline_count = 0;
  double canary_mean = 0;
  double baseline_mean = 0;
  double effect_size = 1;  // canary mean / baseline mean
  double band = 0;         // tolerance in the metric's unit
  std::optional<mann_whitney_result> test;
  std::string reason;
};

struct group_record {
  std::string group;
  double weight = 0;  // normalised share of the score
  double score = 0;   // 0..100 within the group
  int passed = 0;
  int counted = 0;
};

struct judge_record {
  verdict result = verdict::nodata;
  double score = 0;
  std::vector<group_record> groups;
  std::vector<metric_record> metrics;
  std::string summary;
};

metric_record classify(const metric_spec& spec, const metric_samples& data, double confidence);

// specs and data are parallel: data[i] holds the samples of specs[i].
judge_record judge(const judge_params& params, const std::vector<metric_spec>& specs,
                   const std::vector<metric_samples>& data);

}  // namespace cohort::analysis
