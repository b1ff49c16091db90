#include "rollout/machine.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <utility>

#include "analysis/judge.hpp"
#include "config/loader.hpp"

namespace cohort::rollout {

namespace {

using config::webhook_type;

// "99", "99.5", "0.25": up to `decimals` places, trailing zeros dropped.
std::string trimmed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s(buf);
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') {
      s.pop_back();
    }
    if (!s.empty() && s.back() == '.') {
      s.pop_back();
    }
  }
  return s;
}

using config::is_comparative_metric;
using config::is_share_metric;
bool is_latency_metric(const std::string& name) {
  return name.rfind("latency-", 0) == 0;
}

// How a halt line names the metric: "success rate", "latency p99".
std::string metric_label(const std::string& name) {
  if (is_share_metric(name) || is_latency_metric(name)) {
    std::string s = name;
    std::replace(s.begin(), s.end(), '-', ' ');
    return s;
  }
  return name;
}

// The observed value keeps two decimals ("98.20%"), the threshold as written ("99%").
std::string format_value(const std::string& name, double v, bool threshold) {
  if (is_share_metric(name)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f", v * 100);
    return (threshold ? trimmed(v * 100, 2) : std::string(buf)) + "%";
  }
  if (is_latency_metric(name)) {
    return trimmed(v * 1000, threshold ? 3 : 2) + "ms";
  }
  return trimmed(v, 4);
}

bool same_state(const routing::rollout_state& a, const routing::rollout_state& b) {
  return a.phase == b.phase && a.weight == b.weight && a.joined_cohorts == b.joined_cohorts;
}

bool analysing(phase p) {
  return p == phase::progressing || p == phase::paused || p == phase::waiting_promotion;
}

// Without a baseline the canary is compared with stable (Kayenta's common setup).
std::string control_name(const config::rollout_config& r) {
  return r.baseline.empty() ? "stable" : "baseline";
}

std::chrono::milliseconds steady_of(const tick_input& in) {
  return in.steady ? *in.steady : in.now.time_since_epoch();
}

}  // namespace

std::string_view to_string(action a) {
  switch (a) {
    case action::promote:
      return "promote";
    case action::abort:
      return "abort";
    case action::pause:
      return "pause";
    case action::resume:
      return "resume";
    case action::retry:
      return "retry";
  }
  return "retry";
}

std::string_view webhook_name(const config::webhook_config& w) {
  return w.name.empty() ? config::to_string(w.type) : std::string_view(w.name);
}

struct machine::context {
  rollout_record next;
  time_point now;
  std::chrono::milliseconds steady;
  std::vector<log_line> logs;
  std::vector<metric_increment> counts;
  struct hook_request {
    const config::webhook_config* hook;
    bool gate;
    std::string message;
  };
  std::vector<hook_request> hooks;

  // A line in the log, an event in the record and on the event webhooks.
  void note(const config::rollout_config& cfg, bool warning, std::string message) {
    logs.push_back(log_line{warning, message});
    for (const auto& w : cfg.webhooks) {
      if (w.type == webhook_type::event) {
        hooks.push_back(hook_request{&w, false, message});
      }
    }
    add_event(next, now, warning ? "warn" : "info", std::move(message));
  }
  void set_phase(phase p, std::string reason) {
    if (next.current != p) {
      next.phase_since = now;
    }
    next.current = p;
    next.reason = std::move(reason);
  }
  void call(const config::rollout_config& cfg, webhook_type type, bool gate) {
    for (const auto& w : cfg.webhooks) {
      if (w.type == type) {
        hooks.push_back(hook_request{&w, gate, {}});
      }
    }
  }
};

machine::machine(config::rollout_config cfg) : cfg_(std::move(cfg)) {}

void machine::keep_evidence_from(machine& previous) {
  const auto& a = cfg_.analysis.sequential;
  const auto& b = previous.cfg_.analysis.sequential;
  const bool same_test = a && b && a->alpha == b->alpha && a->tolerance == b->tolerance &&
                         a->floor == b->floor && a->client_errors == b->client_errors;
  if (same_test && cfg_.canary == previous.cfg_.canary && cfg_.baseline == previous.cfg_.baseline &&
      cfg_.stable == previous.cfg_.stable) {
    monitor_ = std::move(previous.monitor_);
    monitor_run_ = previous.monitor_run_;
  }
}

std::size_t machine::step_count() const {
  return std::max<std::size_t>(1, cfg_.steps.size());
}

config::step_config machine::step_at(std::uint32_t index) const {
  if (cfg_.steps.empty()) {
    // Without steps the rollout holds the file's starting weight, then promotes.
    config::step_config s;
    s.kind = config::step_kind::weight;
    s.weight = cfg_.weight;
    return s;
  }
  return cfg_.steps.at(index);
}

bool machine::compares() const {
  const auto& a = cfg_.analysis;
  return a.sequential || a.judge ||
         std::any_of(a.metrics.begin(), a.metrics.end(),
                     [](const config::metric_check& m) { return is_comparative_metric(m.name); });
}

void machine::roll_back_if_asked(context& c, const std::vector<webhook_outcome>& outcomes) const {
  for (const auto& o : outcomes) {
    if (o.ok && o.type == webhook_type::rollback) {
      roll_back(c, "rollback webhook " + o.name + " " + o.detail);
      return;
    }
  }
}

bool machine::has_webhooks(webhook_type type) const {
  return std::any_of(cfg_.webhooks.begin(), cfg_.webhooks.end(),
                     [type](const auto& w) { return w.type == type; });
}

rollout_record machine::initial(const std::string& fingerprint, time_point now) const {
  rollout_record r;
  r.name = cfg_.name;
  r.canary_fingerprint = fingerprint;
  r.run_started = now;
  r.phase_since = now;
  r.step_started = now;
  r.reason = "new rollout";
  return r;
}

void machine::restart(context& c, const std::string& fingerprint, std::string message) const {
  rollout_record fresh = initial(fingerprint, c.now);
  fresh.events = std::move(c.next.events);
  c.next = std::move(fresh);
  c.next.reason = message;
  c.note(cfg_, false, std::move(message));
}

void machine::ask_gate(context& c, gate g, webhook_type type) const {
  c.next.pending_gate = g;
  c.next.pending_webhooks.clear();
  for (const auto& w : cfg_.webhooks) {
    if (w.type == type) {
      c.next.pending_webhooks.emplace_back(webhook_name(w));
    }
  }
  c.call(cfg_, type, true);
}

void machine::begin_start(context& c) const {
  if (has_webhooks(webhook_type::confirm_rollout) || has_webhooks(webhook_type::pre_rollout)) {
    // Both start gates are asked together and must all pass.
    c.next.pending_gate = gate::start;
    c.next.pending_webhooks.clear();
    for (const auto& w : cfg_.webhooks) {
      if (w.type == webhook_type::confirm_rollout || w.type == webhook_type::pre_rollout) {
        c.next.pending_webhooks.emplace_back(webhook_name(w));
      }
    }
    c.call(cfg_, webhook_type::confirm_rollout, true);
    c.call(cfg_, webhook_type::pre_rollout, true);
    c.next.gate_asked_steady = c.steady;
    c.logs.push_back(log_line{false, "Waiting for " + cfg_.name + " pre-rollout checks"});
    return;
  }
  start(c);
}

void machine::start(context& c) const {
  c.next.started = true;
  c.note(cfg_, false, "Starting canary analysis for " + cfg_.name);
  apply_step(c, 0);
}

void machine::apply_step(context& c, std::uint32_t index) const {
  auto& r = c.next;
  const config::step_config s = step_at(index);
  r.step = index;
  r.step_started = c.now;
  r.step_started_steady = c.steady;
  r.step_requests = 0;
  r.step_control_requests = 0;
  r.step_series.clear();
  r.no_data_since.reset();
  r.no_data_since_steady.reset();
  const std::string at = "step " + std::to_string(index + 1) + "/" + std::to_string(step_count());
  switch (s.kind) {
    case config::step_kind::cohort:
      if (std::find(r.joined_cohorts.begin(), r.joined_cohorts.end(), s.cohort) ==
          r.joined_cohorts.end()) {
        r.joined_cohorts.push_back(s.cohort);
      }
      c.set_phase(phase::progressing, at + ": cohort " + s.cohort + " joined");
      c.note(cfg_, false, "Advance " + cfg_.name + " canary cohort " + s.cohort);
      break;
    case config::step_kind::weight:
      // The population only grows: a lower weight after a cohort step keeps the larger share.
      r.weight = std::max(r.weight, s.weight);
      c.set_phase(phase::progressing, at + ": weight " + format_share(r.weight));
      c.note(cfg_, false, "Advance " + cfg_.name + " canary weight " + format_share(r.weight));
      break;
    case config::step_kind::pause: {
      const std::string how = s.pause ? "for " + format_duration(*s.pause) : "until resume";
      c.set_phase(phase::paused, at + ": paused " + how);
      c.note(cfg_, false, "Pausing " + cfg_.name + " advancement " + how);
      break;
    }
  }
}

void machine::complete_step(context& c) const {
  auto& r = c.next;
  r.completed_steps.push_back(
      step_evidence{r.step, r.step_requests, r.step_control_requests, c.now});
  if (r.completed_steps.size() > max_series_points) {
    r.completed_steps.erase(r.completed_steps.begin());
  }
}

void machine::advance(context& c) const {
  complete_step(c);
  if (c.next.step + 1 < step_count()) {
    apply_step(c, c.next.step + 1);
    return;
  }
  begin_promotion(c);
}

void machine::begin_promotion(context& c) const {
  if (cfg_.promotion == config::promotion_mode::manual) {
    c.set_phase(phase::waiting_promotion, "all steps passed; waiting for promote");
    c.note(cfg_, false, "Waiting for " + cfg_.name + " promotion (manual)");
    return;
  }
  if (has_webhooks(webhook_type::confirm_promotion)) {
    ask_gate(c, gate::promotion, webhook_type::confirm_promotion);
    c.logs.push_back(log_line{false, "Waiting for " + cfg_.name + " confirm-promotion"});
    return;
  }
  promote(c, "all steps passed");
}

void machine::promote(context& c, std::string why) const {
  c.next.pending_gate = gate::none;
  c.next.pending_webhooks.clear();
  c.next.operator_paused = false;
  c.next.weight = full_share;
  c.set_phase(phase::promoting, std::move(why));
  c.note(cfg_, false, "Promoting " + cfg_.name + " canary weight 100%");
}

void machine::roll_back(context& c, std::string message) const {
  auto& r = c.next;
  r.pending_gate = gate::none;
  r.pending_webhooks.clear();
  r.operator_paused = false;
  c.set_phase(phase::rolling_back, message);
  c.note(cfg_, true, "Rolling back " + cfg_.name + " " + message);
}

void machine::settle(context& c) const {
  if (c.next.current == phase::promoting) {
    c.set_phase(phase::succeeded, "promotion completed");
    c.note(cfg_, false, "Promotion completed " + cfg_.name);
    c.call(cfg_, webhook_type::post_rollout, false);
  } else if (c.next.current == phase::rolling_back) {
    // Everyone was sent to stable when RollingBack was published; the reason stays.
    const std::string why = c.next.reason;
    c.set_phase(phase::failed, why);
    c.note(cfg_, true, "Canary failed! " + cfg_.name + " users are all on stable");
    c.call(cfg_, webhook_type::post_rollout, false);
  }
}

void machine::resolve_gate(context& c, const std::vector<webhook_outcome>& outcomes) {
  auto& r = c.next;
  std::vector<const webhook_outcome*> found;
  for (const auto& name : r.pending_webhooks) {
    const webhook_outcome* hit = nullptr;
    for (const auto& o : outcomes) {
      if (o.name == name) {
        hit = &o;
      }
    }
    if (hit == nullptr) {
      return;  // still waiting for this one
    }
    found.push_back(hit);
  }
  const gate g = r.pending_gate;
  r.pending_gate = gate::none;
  r.pending_webhooks.clear();
  bool ok = true;
  for (const auto* o : found) {
    if (!o->ok) {
      ok = false;
      c.note(cfg_, true,
             "Halt " + cfg_.name + " advancement " + std::string(to_string(g)) + " webhook " +
                 o->name + " failed" + (o->detail.empty() ? "" : ": " + o->detail));
    }
  }
  if (!ok) {
    // As in Flagger, a failing pre-rollout or rollout hook counts as a failed
    // check (once per ask); confirm-rollout and confirm-promotion only wait.
    bool counts = false;
    for (const auto* o : found) {
      if (o->ok) {
        continue;
      }
      r.reason = std::string(to_string(g)) + " webhook " + o->name + " failed" +
                 (o->detail.empty() ? "" : ": " + o->detail);
      counts = counts || o->type == webhook_type::pre_rollout || o->type == webhook_type::rollout;
    }
    if (counts) {
      ++r.failed_checks;
      if (r.failed_checks >= cfg_.analysis.threshold) {
        roll_back(c, "failed checks threshold reached " + std::to_string(r.failed_checks) + " (" +
                         r.reason + ")");
      }
    }
    return;
  }
  switch (g) {
    case gate::start:
      start(c);
      break;
    case gate::advance:
      advance(c);
      break;
    case gate::promotion:
      promote(c, "all steps passed; promotion confirmed");
      break;
    case gate::none:
      break;
  }
}

machine::interval_result machine::analyse(context& c, const interval_evidence& ev) {
  auto& r = c.next;
  const auto& a = cfg_.analysis;
  analysis_summary summary;
  summary.at = c.now;
  summary.control = control_name(cfg_);
  summary.canary_requests = ev.canary.requests;
  summary.baseline_requests = ev.baseline.requests;
  summary.judge = r.last_analysis.judge;

  // The sequential test sees every second of the run, whatever the phase of
  // the step; without a baseline it compares the canary with stable.
  if (a.sequential) {
    if (!monitor_ || monitor_run_ != r.run_started) {
      analysis::sequential_params p;
      p.alpha = a.sequential->alpha;
      p.tolerance = a.sequential->tolerance;
      p.latency_floor = std::chrono::duration<double>(a.sequential->floor).count();
      p.client_errors = a.sequential->client_errors;
      monitor_.emplace(p);
      monitor_run_ = r.run_started;
    }
    for (const auto& s : ev.seconds) {
      if (s.canary_latency && s.baseline_latency) {
        monitor_->update(s.canary, s.baseline, *s.canary_latency, *s.baseline_latency);
      } else {
        monitor_->update(s.canary, s.baseline);
      }
    }
    const auto rec = monitor_->record();
    summary.sequential = sequential_summary{rec.e_value, rec.threshold, rec.odds_ratio,
                                            rec.seconds, rec.rejected,  rec.summary};
  }

  bool any_fail = false;
  bool any_nodata = ev.canary.requests == 0;
  // A comparison with an arm that served nobody is no comparison.
  const bool no_control = compares() && ev.canary.requests > 0 && ev.baseline.requests == 0;
  std::vector<std::string> halts;
  for (const auto& m : a.metrics) {
    metric_result mr;
    mr.name = m.name;
    mr.min = m.min;
    mr.max = m.max;
    for (const auto& v : ev.metrics) {
      if (v.name == m.name) {
        mr.value = v.canary;
        mr.baseline = v.baseline;
      }
    }
    if (!mr.value || !std::isfinite(*mr.value)) {
      mr.value.reset();
      mr.result = check_result::nodata;
      any_nodata = true;
    } else if (m.min && *mr.value < *m.min) {
      mr.result = check_result::fail;
      halts.push_back(metric_label(m.name) + " " + format_value(m.name, *mr.value, false) + " < " +
                      format_value(m.name, *m.min, true));
    } else if (m.max && *mr.value > *m.max) {
      mr.result = check_result::fail;
      halts.push_back(metric_label(m.name) + " " + format_value(m.name, *mr.value, false) + " > " +
                      format_value(m.name, *m.max, true));
    } else {
      mr.result = check_result::pass;
    }
    any_fail = any_fail || mr.result == check_result::fail;
    c.counts.push_back(metric_increment{
        "cohort_analysis_checks_total",
        {{"rollout", cfg_.name}, {"metric", m.name}, {"result", std::string(to_string(mr.result))}},
        1});
    // The judge compares the per-interval series of the whole step.
    if (mr.value && mr.baseline && std::isfinite(*mr.baseline)) {
      auto it = std::find_if(r.step_series.begin(), r.step_series.end(),
                             [&](const metric_series& s) { return s.name == m.name; });
      if (it == r.step_series.end()) {
        r.step_series.push_back(metric_series{m.name, {}, {}});
        it = r.step_series.end() - 1;
      }
      if (it->canary.size() < max_series_points) {
        it->canary.push_back(*mr.value);
        it->baseline.push_back(*mr.baseline);
      }
    }
    summary.metrics.push_back(std::move(mr));
  }
  r.last_analysis = std::move(summary);

  if (r.last_analysis.sequential && r.last_analysis.sequential->rejected) {
    roll_back(c, "sequential test rejected: " + r.last_analysis.sequential->summary);
    return interval_result::rolled_back;
  }
  if (any_fail) {
    for (const auto& h : halts) {
      c.note(cfg_, true, "Halt " + cfg_.name + " advancement " + h);
    }
    ++r.failed_checks;
    r.reason =
        "failed checks " + std::to_string(r.failed_checks) + "/" + std::to_string(a.threshold);
    if (r.failed_checks >= a.threshold) {
      roll_back(c, "failed checks threshold reached " + std::to_string(r.failed_checks));
      return interval_result::rolled_back;
    }
    return interval_result::failed;
  }
  if (any_nodata || no_control) {
    const std::string what = ev.canary.requests == 0 ? "no canary traffic"
                             : no_control ? "no " + control_name(cfg_) + " traffic to compare with"
                                          : "no data for a metric";
    if (ev.service_requests == 0) {
      // Nobody uses the service (a quiet night): hold for as long as it lasts.
      r.no_data_since.reset();
      r.no_data_since_steady.reset();
    } else if (!r.no_data_since_steady) {
      r.no_data_since = c.now;
      r.no_data_since_steady = c.steady;
    }
    // Users are arriving and the canary (or its control) gets none of them:
    // a routing problem (cohorts that match nobody, a weight of 0), worth
    // failing on. Only a step that wants to advance can run out of time.
    const bool wants_to_advance =
        r.current == phase::progressing ||
        (r.current == phase::paused && !r.operator_paused && step_at(r.step).pause);
    if (r.no_data_since_steady && wants_to_advance &&
        c.steady - *r.no_data_since_steady >= a.no_data_deadline) {
      roll_back(c, what + " for " + format_duration(a.no_data_deadline) +
                       " while the service served " + std::to_string(ev.service_requests) +
                       " requests in the last interval: check the rollout's routing (cohorts, "
                       "weights, pins)");
      return interval_result::rolled_back;
    }
    c.logs.push_back(
        log_line{false, "Halt " + cfg_.name + " advancement " + what + " (insufficient evidence)"});
    return interval_result::held;
  }
  r.no_data_since.reset();
  r.no_data_since_steady.reset();
  // Requests of an interval in which the step began were routed with the
  // previous population: they do not count for this step.
  if (r.step_started != c.now) {
    r.step_requests += ev.canary.requests;
    r.step_control_requests += ev.baseline.requests;
  }
  return interval_result::passed;
}

bool machine::run_judge(context& c) {
  if (!cfg_.analysis.judge) {
    return true;
  }
  const auto& jc = *cfg_.analysis.judge;
  analysis::judge_params params;
  params.confidence = jc.confidence;
  params.pass = jc.pass;
  params.marginal = jc.marginal;
  std::vector<analysis::metric_spec> specs;
  std::vector<analysis::metric_samples> data;
  for (const auto& m : cfg_.analysis.metrics) {
    if (is_comparative_metric(m.name)) {
      continue;  // already a difference from the control arm
    }
    analysis::metric_spec spec;
    spec.name = m.name;
    // A maximum means "higher hurts", a minimum "lower hurts".
    spec.dir = m.max ? analysis::direction::increase : analysis::direction::decrease;
    analysis::metric_samples samples;
    for (const auto& s : c.next.step_series) {
      if (s.name == m.name) {
        samples.canary = analysis::sample_of(s.canary);
        samples.baseline = analysis::sample_of(s.baseline);
      }
    }
    specs.push_back(std::move(spec));
    data.push_back(std::move(samples));
  }
  const auto record = analysis::judge(params, specs, data);
  c.next.last_analysis.judge =
      judge_summary{analysis::to_string(record.result), record.score, record.summary};
  switch (record.result) {
    case analysis::verdict::fail:
      roll_back(c, "judge score " + trimmed(record.score, 1) + " < " + trimmed(jc.marginal, 1));
      return false;
    case analysis::verdict::marginal:
      // Kayenta's marginal: not conclusive either way; keep the step and judge
      // again with the next interval's data (the checks still count).
      c.note(cfg_, true,
             "Halt " + cfg_.name + " advancement judge score " + trimmed(record.score, 1) + " < " +
                 trimmed(jc.pass, 1));
      return false;
    case analysis::verdict::pass:
    case analysis::verdict::nodata:
      return true;
  }
  return true;
}

void machine::try_advance(context& c) {
  auto& r = c.next;
  if (r.step_requests < cfg_.analysis.min_requests) {
    c.logs.push_back(log_line{
        false, "Halt " + cfg_.name + " advancement " + std::to_string(r.step_requests) + " of " +
                   std::to_string(cfg_.analysis.min_requests) + " canary requests judged"});
    return;
  }
  if (!run_judge(c)) {
    return;
  }
  if (const auto s = step_at(r.step); s.kind == config::step_kind::pause && s.pause) {
    c.note(cfg_, false, "Resuming " + cfg_.name + " after " + format_duration(*s.pause));
  }
  if (has_webhooks(webhook_type::rollout)) {
    ask_gate(c, gate::advance, webhook_type::rollout);
    return;
  }
  advance(c);
}

transition machine::tick(const rollout_record& current, const tick_input& in) {
  context c{current, in.now, steady_of(in), {}, {}, {}};
  auto& r = c.next;
  if (r.name.empty()) {
    r.name = cfg_.name;
  }
  if (!in.canary_fingerprint.empty() && r.canary_fingerprint != in.canary_fingerprint) {
    const bool had = !r.canary_fingerprint.empty();
    restart(c, in.canary_fingerprint,
            had ? "New revision detected! Restarting analysis for " + cfg_.name
                : "New canary for " + cfg_.name);
  }
  settle(c);
  if (is_terminal(r.current)) {
    return finish(current, c);
  }
  if (r.started && analysing(r.current)) {
    roll_back_if_asked(c, in.webhooks);
    if (r.current == phase::rolling_back) {
      return finish(current, c);
    }
  }
  if (r.pending_gate != gate::none && !r.operator_paused) {
    resolve_gate(c, in.webhooks);
  }
  // The start gates are asked once per interval until they pass, not every tick.
  if (r.current == phase::initialized && r.pending_gate == gate::none &&
      (!r.gate_asked_steady || c.steady - *r.gate_asked_steady >= cfg_.analysis.interval)) {
    begin_start(c);
  }
  interval_result outcome = interval_result::held;
  if (in.interval && r.started && analysing(r.current)) {
    outcome = analyse(c, *in.interval);
    if (r.current != phase::rolling_back) {
      // Rollback hooks are asked once per interval while the canary is analysed;
      // a 2xx answer rolls back (Flagger's meaning).
      c.call(cfg_, webhook_type::rollback, true);
    }
  }
  if (r.current == phase::paused && !r.operator_paused) {
    // A timed pause ends like any step: its time is up and it has judged
    // enough of its own traffic. The clock alone never advances a rollout.
    const auto s = step_at(r.step);
    if (s.kind == config::step_kind::pause && s.pause &&
        c.steady - r.step_started_steady >= *s.pause && r.pending_gate == gate::none &&
        outcome == interval_result::passed) {
      try_advance(c);
    }
  } else if (r.current == phase::progressing && r.pending_gate == gate::none &&
             outcome == interval_result::passed) {
    try_advance(c);
  }
  return finish(current, c);
}

result<transition> machine::act(const rollout_record& current, action a, time_point now,
                                std::optional<std::chrono::milliseconds> steady) {
  context c{current, now, steady ? *steady : now.time_since_epoch(), {}, {}, {}};
  auto& r = c.next;
  const std::string who = " by operator";
  const phase p = r.current;
  const auto refuse = [&](const std::string& why) {
    return error{std::string(to_string(a)) + " " + cfg_.name + ": " + why + " (phase " +
                 std::string(to_string(p)) + ")"};
  };
  switch (a) {
    case action::promote:
      if (!(p == phase::initialized || analysing(p))) {
        return refuse("nothing to promote");
      }
      if (!r.started) {
        r.started = true;
      }
      c.note(cfg_, false, "Promotion of " + cfg_.name + " requested" + who);
      promote(c, "promoted" + who);
      break;
    case action::abort:
      if (is_terminal(p) || p == phase::rolling_back) {
        return refuse("already finished");
      }
      roll_back(c, "aborted" + who);
      break;
    case action::pause:
      if (!(p == phase::initialized || p == phase::progressing || p == phase::waiting_promotion)) {
        return refuse(p == phase::paused ? "already paused" : "cannot pause");
      }
      r.resume_to = p;
      r.operator_paused = true;
      r.pending_gate = gate::none;
      r.pending_webhooks.clear();
      c.set_phase(phase::paused, "paused" + who);
      c.note(cfg_, false, "Pausing " + cfg_.name + " advancement" + who);
      break;
    case action::resume:
      if (p != phase::paused) {
        return refuse("not paused");
      }
      c.note(cfg_, false, "Resuming " + cfg_.name + who);
      if (r.operator_paused) {
        r.operator_paused = false;
        c.set_phase(r.resume_to, "resumed" + who);
      } else {
        advance(c);  // past a manual pause step
      }
      break;
    case action::retry:
      if (p == phase::failed) {
        restart(c, r.canary_fingerprint, "Retrying " + cfg_.name + " from step 1");
      } else if (p == phase::initialized) {
        // Ask the start gates again at the next tick.
        r.pending_gate = gate::none;
        r.pending_webhooks.clear();
        r.gate_asked_steady.reset();
        c.note(cfg_, false, "Retrying " + cfg_.name + " pre-rollout checks");
      } else {
        return refuse("only a failed or not yet started rollout can be retried");
      }
      break;
  }
  return finish(current, c);
}

transition machine::finish(const rollout_record& before, context& c) const {
  transition t;
  t.next = std::move(c.next);
  // Persist first: nothing below may be seen by users or other systems before
  // the state that caused it is durable.
  if (to_json(t.next) != to_json(before)) {
    t.effects.emplace_back(persist{});
  }
  const auto was = to_routing_state(before);
  const auto now = to_routing_state(t.next);
  if (!same_state(was, now)) {
    t.effects.emplace_back(publish_routing{now});
  }
  for (auto& l : c.logs) {
    t.effects.emplace_back(std::move(l));
  }
  for (auto& m : c.counts) {
    t.effects.emplace_back(std::move(m));
  }
  for (const auto& h : c.hooks) {
    nlohmann::json body = {
        {"name", cfg_.name},
        {"type", std::string(webhook_name(config::webhook_config{h.hook->type, {}, {}, {}, {}}))},
        {"phase", to_string(t.next.current)},
        {"step", t.next.step},
        {"weight", t.next.weight},
        {"weight_percent", format_share(t.next.weight)},
        {"failed_checks", t.next.failed_checks},
        {"canary_fingerprint", t.next.canary_fingerprint},
        {"reason", t.next.reason},
    };
    // The last analysis as the record stores it, so hooks see the same numbers as the API.
    const auto full = nlohmann::json::parse(to_json(t.next));
    body["last_analysis"] = full.at("last_analysis");
    if (!h.message.empty()) {
      body["message"] = h.message;
    }
    if (h.hook->type == webhook_type::post_rollout) {
      body["outcome"] = t.next.current == phase::succeeded ? "succeeded" : "failed";
    }
    t.effects.emplace_back(call_webhook{h.hook->type, std::string(webhook_name(*h.hook)),
                                        h.hook->url, h.hook->timeout, h.gate, body.dump()});
  }
  return t;
}

}  // namespace cohort::rollout
