#include <algorithm>
#include <charconv>
#include <cmath>

#include "config/parsers.hpp"

namespace cohort::config::detail {

namespace {

// How a threshold was written decides which metrics it fits: "99%" is a ratio,
// "500ms" a latency, "1000" anything numeric.
enum class threshold_form { share, duration, number };

struct threshold {
  double value = 0;
  threshold_form form = threshold_form::number;
  std::string text;
};

std::optional<threshold> read_threshold(const object& o, std::string_view key) {
  const auto text = o.text(key);
  if (!text) {
    return std::nullopt;
  }
  threshold t;
  t.text = *text;
  if (text->ends_with('%')) {
    if (const auto bp = parse_share(*text)) {
      t.form = threshold_form::share;
      t.value = static_cast<double>(*bp) / full_share;
      return t;
    }
  } else if (const auto d = parse_duration(*text)) {
    t.form = threshold_form::duration;
    t.value = std::chrono::duration<double>(*d).count();
    return t;
  } else if (const auto n = parse_number(*text)) {
    t.form = threshold_form::number;
    t.value = *n;
    return t;
  }
  o.error(*o.find(key), std::string(key) + " '" + *text +
                            "' is not a share (99%), a duration (500ms) or a number");
  return std::nullopt;
}

std::string format_number(double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc{} ? std::string(buf, end) : std::string("?");
}

const std::vector<std::string>& built_in_metrics() {
  static const std::vector<std::string> names = {
      "success-rate", "error-rate",  "request-success-rate", "2xx-rate",
      "4xx-rate",     "5xx-rate",    "4xx-increase",         "5xx-increase",
      "latency-p50",  "latency-p90", "latency-p99",          "latency-p999",
      "requests"};
  return names;
}

// Checks a threshold against the unit of the metric; the problem, if any.
std::optional<std::string> unit_problem(const std::string& metric, const std::string& key,
                                        const threshold& t) {
  const std::string written = key + " " + t.text;
  if (metric == "request-success-rate") {
    // Flagger's name and unit: a percentage, written 99 (or 99%).
    if (t.form == threshold_form::duration) {
      return written + " is not a percentage (like 99)";
    }
    if ((t.form == threshold_form::share && t.value > 1) ||
        (t.form == threshold_form::number && (t.value < 0 || t.value > 100))) {
      return written + " is not a percentage between 0 and 100";
    }
  } else if (is_share_metric(metric)) {  // written as 99% or 0.99
    if (t.form == threshold_form::duration) {
      return written + " is not a ratio (like 99% or 0.99)";
    }
    if (t.form == threshold_form::share && t.value > 1) {
      return written + " is above 100%";
    }
    if (t.form == threshold_form::number && (t.value < 0 || t.value > 1)) {
      return written + " is not a ratio between 0 and 1 (write " + t.text + "% for a percentage)";
    }
  } else if (metric.starts_with("latency-")) {
    if (t.form == threshold_form::share) {
      return written + " is not a latency (like 500ms, or a number of seconds)";
    }
    if (t.value < 0) {
      return written + " is below 0";
    }
  } else if (metric == "requests") {
    if (t.form != threshold_form::number || t.value < 0 || t.value > 1e15 ||
        t.value != std::floor(t.value)) {
      return written + " is not a whole number of requests";
    }
  }
  return std::nullopt;
}

void parse_prometheus(context& cx, const field& f, const std::string& what, prometheus_query& out) {
  object o(cx, f, what + " prometheus", {"address", "query"});
  o.check_keys();
  o.require("address");
  o.require("query");
  if (const auto address = o.text("address")) {
    if (!(address->starts_with("http://") || address->starts_with("https://")) ||
        address->find("://") + 3 == address->size()) {
      o.error(*o.find("address"),
              "address '" + *address + "' is not an http:// URL (like http://127.0.0.1:9090)");
    }
    out.address = *address;
  }
  if (const auto query = o.text("query")) {
    if (query->empty()) {
      o.error(*o.find("query"), "query must not be empty");
    }
    out.query = *query;
  }
}

void parse_metric(context& cx, const YAML::Node& node, const std::string& what, std::size_t index,
                  std::vector<metric_check>& out) {
  object o(cx, node, what + " " + label(node, "metric", index),
           {"name", "min", "max", "prometheus"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  metric_check m;
  m.where = o.where();
  const auto name = unique_name(o, out, "metric");
  if (!name) {
    return;
  }
  m.name = *name;
  if (const field* prometheus = o.find("prometheus")) {
    m.prometheus.emplace();
    parse_prometheus(cx, *prometheus, o.what(), *m.prometheus);
  }
  const auto& built_in = built_in_metrics();
  const bool is_built_in = std::find(built_in.begin(), built_in.end(), m.name) != built_in.end();
  if (!is_built_in && !m.prometheus) {
    std::string hint = did_you_mean(m.name, built_in);
    if (hint.empty()) {
      for (const auto& b : built_in) {
        hint += (hint.empty() ? " (built-in: " : ", ") + b;
      }
      hint += ")";
    }
    o.error(*o.find("name"), "'" + m.name + "' is not a built-in metric" + hint +
                                 "; a custom metric needs prometheus: {address, query}");
  }
  std::optional<threshold> min;
  std::optional<threshold> max;
  for (const auto& [key, target] : {std::pair{"min", &min}, std::pair{"max", &max}}) {
    *target = read_threshold(o, key);
    if (*target && !m.prometheus) {
      if (const auto problem = unit_problem(m.name, key, **target)) {
        o.error(*o.find(key), *problem);
        target->reset();
      }
    }
  }
  if (!o.find("min") && !o.find("max")) {
    o.error("needs min or max");
  }
  if (min && max && min->value > max->value) {
    o.error(*o.find("max"), "max " + max->text + " is below min " + min->text);
  }
  // request-success-rate is measured as a ratio like success-rate; its
  // threshold, written as Flagger's percentage, is turned into one.
  const auto value_of = [&](const threshold& t) {
    return m.name == "request-success-rate" && !m.prometheus && t.form == threshold_form::number
               ? t.value / 100
               : t.value;
  };
  if (min) {
    m.min = value_of(*min);
  }
  if (max) {
    m.max = value_of(*max);
  }
  out.push_back(std::move(m));
}

void parse_judge(context& cx, const field& f, const std::string& what, judge_config& out) {
  object o(cx, f, what + " judge", {"method", "pass", "marginal", "confidence"});
  o.check_keys();
  out.where = o.where();
  if (const auto method =
          o.choice<std::string_view>("method", {{"mann-whitney", "mann-whitney"}})) {
    out.method = std::string(*method);
  }
  for (const auto& [key, target] :
       {std::pair{"pass", &out.pass}, std::pair{"marginal", &out.marginal}}) {
    if (const auto n = o.number(key)) {
      if (*n < 0 || *n > 100) {
        o.error(*o.find(key), std::string(key) + " " + o.find(key)->value.Scalar() +
                                  " is not a score between 0 and 100");
      } else {
        *target = *n;
      }
    }
  }
  if (out.marginal > out.pass) {
    const std::string problem =
        "marginal " + format_number(out.marginal) + " is above pass " + format_number(out.pass);
    if (const field* at = o.find("marginal") ? o.find("marginal") : o.find("pass")) {
      o.error(*at, problem);
    } else {
      o.error(problem);
    }
  }
  if (const auto n = o.number("confidence")) {
    if (*n < 0.5 || *n > 0.999) {
      o.error(*o.find("confidence"), "confidence " + o.find("confidence")->value.Scalar() +
                                         " is not between 0.5 and 0.999");
    } else {
      out.confidence = *n;
    }
  }
}

void parse_sequential(context& cx, const field& f, const std::string& what,
                      sequential_config& out) {
  object o(cx, f, what + " sequential", {"alpha", "tolerance", "floor", "client_errors"});
  o.check_keys();
  out.where = o.where();
  if (const auto n = o.number("alpha")) {
    if (*n <= 0 || *n >= 0.5) {
      o.error(*o.find("alpha"),
              "alpha " + o.find("alpha")->value.Scalar() + " is not between 0 and 0.5 (exclusive)");
    } else {
      out.alpha = *n;
    }
  }
  if (const field* tolerance = o.find("tolerance")) {
    const std::string text = tolerance->value.IsScalar() ? tolerance->value.Scalar() : "";
    std::optional<double> value;
    if (text.ends_with('%')) {
      if (const auto bp = parse_share(text)) {
        value = static_cast<double>(*bp) / full_share;
      }
    } else {
      value = parse_number(text);
    }
    if (!value || *value < 0) {
      o.error(*tolerance, "tolerance '" + text +
                              "' is not a relative tolerance of 0 or more (like 0.05 or 5%)");
    } else {
      out.tolerance = *value;
    }
  }
  if (const auto text = o.text("floor")) {
    if (const auto d = parse_duration(*text)) {
      out.floor = *d;  // 0ms is allowed: no floor
    } else {
      o.error(*o.find("floor"), "floor '" + *text + "' is not a duration (like 1ms or 0ms)");
    }
  }
  if (const auto b = o.boolean("client_errors")) {
    out.client_errors = *b;
  }
}

}  // namespace

void parse_analysis(context& cx, const field& f, const std::string& what, analysis_config& out) {
  object o(cx, f, what + " analysis",
           {"interval", "threshold", "min_requests", "no_data_deadline", "metrics", "judge",
            "sequential"});
  o.check_keys();
  if (const auto d = o.positive_duration("interval")) {
    out.interval = *d;
  }
  if (const auto n = o.count("threshold", 1, 1000000)) {
    out.threshold = static_cast<std::uint32_t>(*n);
  }
  if (const auto n = o.count("min_requests")) {
    out.min_requests = *n;
  }
  if (const auto d = o.positive_duration("no_data_deadline")) {
    out.no_data_deadline = *d;
  }
  if (const field* metrics = o.find("metrics")) {
    const auto items = list_items(cx, o.what(), *metrics);
    for (std::size_t i = 0; i < items.size(); ++i) {
      parse_metric(cx, items[i], o.what(), i, out.metrics);
    }
  }
  if (const field* judge = o.find("judge")) {
    out.judge.emplace();
    parse_judge(cx, *judge, o.what(), *out.judge);
  }
  if (const field* sequential = o.find("sequential")) {
    out.sequential.emplace();
    parse_sequential(cx, *sequential, o.what(), *out.sequential);
  }
}

}  // namespace cohort::config::detail

namespace cohort::config {

bool is_comparative_metric(std::string_view name) {
  return name == "4xx-increase" || name == "5xx-increase";
}

bool is_share_metric(std::string_view name) {
  return name == "success-rate" || name == "request-success-rate" || name == "error-rate" ||
         name == "2xx-rate" || name == "4xx-rate" || name == "5xx-rate" ||
         is_comparative_metric(name);
}

}  // namespace cohort::config
