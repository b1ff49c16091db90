#pragma once
// A rollout_config mirroring contract/cohort.example.yaml (with a 1 s
// interval), evidence builders, and a driver that applies transitions the way
// the controller must: persist first, then publish.

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "rollout/machine.hpp"

namespace cohort::rollout::testing {

using namespace std::chrono_literals;

inline config::rollout_config reference_config() {
  config::rollout_config r;
  r.name = "profile-api";
  r.service = "profile-api";
  r.stable = "stable";
  r.canary = "canary";
  r.baseline = "baseline";
  const auto cohort_step = [](const char* name) {
    config::step_config s;
    s.kind = config::step_kind::cohort;
    s.cohort = name;
    return s;
  };
  const auto weight_step = [](basis_points bp) {
    config::step_config s;
    s.kind = config::step_kind::weight;
    s.weight = bp;
    return s;
  };
  config::step_config manual;
  manual.kind = config::step_kind::pause;
  r.steps = {cohort_step("beta"), weight_step(100), weight_step(500), cohort_step("ids-ending-0"),
             weight_step(2500),   manual,           weight_step(5000)};
  r.analysis.interval = 1s;
  r.analysis.threshold = 5;
  r.analysis.min_requests = 1000;
  r.analysis.no_data_deadline = 30s;
  config::metric_check sr;
  sr.name = "success-rate";
  sr.min = 0.99;
  config::metric_check p99;
  p99.name = "latency-p99";
  p99.max = 0.5;
  r.analysis.metrics = {sr, p99};
  r.analysis.judge = config::judge_config{};
  r.analysis.sequential = config::sequential_config{};
  config::webhook_config pre;
  pre.type = config::webhook_type::pre_rollout;
  pre.url = "http://127.0.0.1:9500/ready";
  r.webhooks = {pre};
  r.promotion = config::promotion_mode::automatic;
  return r;
}

inline const config::webhook_config* find_hook(const config::rollout_config& cfg,
                                               config::webhook_type t) {
  for (const auto& w : cfg.webhooks) {
    if (w.type == t) {
      return &w;
    }
  }
  return nullptr;
}

// One interval of canary and baseline traffic with the given error share and
// p99, while stable serves `stable_requests` (the service is in use).
inline interval_evidence evidence(std::uint64_t requests, double error_share = 0.0,
                                  double p99 = 0.120, std::uint64_t stable_requests = 1000) {
  interval_evidence ev;
  const auto errors = static_cast<std::uint64_t>(static_cast<double>(requests) * error_share);
  ev.canary = {requests, errors};
  ev.baseline = {requests, 0};
  ev.service_requests = 2 * requests + stable_requests;
  if (requests > 0) {
    ev.metrics.push_back({"success-rate", 1.0 - error_share, 1.0});
    ev.metrics.push_back({"latency-p99", p99, 0.120});
  } else {
    ev.metrics.push_back({"success-rate", std::nullopt, std::nullopt});
    ev.metrics.push_back({"latency-p99", std::nullopt, std::nullopt});
  }
  ev.seconds.push_back(second_counts{ev.canary, ev.baseline, std::nullopt, std::nullopt});
  return ev;
}

struct driver {
  explicit driver(config::rollout_config cfg, std::string fingerprint = "revision=;canary=a:1")
      : m(std::move(cfg)), fp(std::move(fingerprint)) {
    record = m.initial(fp, now);
  }

  // Applies a transition as the controller must, checking the effect order.
  void apply(transition t) {
    bool persisted = false;
    for (const auto& e : t.effects) {
      if (std::holds_alternative<persist>(e)) {
        EXPECT_FALSE(persisted) << "persist twice";
        persisted = true;
        stored = to_json(t.next);
      } else if (const auto* p = std::get_if<publish_routing>(&e)) {
        EXPECT_TRUE(persisted) << "publish before persist";
        published.push_back(p->state);
      } else if (const auto* l = std::get_if<log_line>(&e)) {
        logs.push_back(l->message);
      } else if (const auto* w = std::get_if<call_webhook>(&e)) {
        calls.push_back(*w);
        if (w->gate) {
          outcomes.push_back(webhook_outcome{w->name, hook_ok(*w), "status 500", w->type});
        }
      } else if (const auto* mi = std::get_if<metric_increment>(&e)) {
        counters[mi->name + "/" + mi->labels.back().second] += mi->delta;
      }
    }
    record = std::move(t.next);
  }

  void tick(std::optional<interval_evidence> ev = std::nullopt) {
    now += 1s;
    tick_input in;
    in.now = now;
    in.canary_fingerprint = fp;
    in.interval = std::move(ev);
    in.webhooks = std::move(outcomes);
    outcomes.clear();
    apply(m.tick(record, in));
  }

  bool act(action a) {
    auto t = m.act(record, a, now);
    if (!t.ok()) {
      return false;
    }
    apply(std::move(t.value()));
    return true;
  }

  bool logged(const std::string& line) const {
    for (const auto& l : logs) {
      if (l == line) {
        return true;
      }
    }
    return false;
  }

  machine m;
  std::string fp;
  time_point now{std::chrono::milliseconds(1'700'000'000'000)};
  rollout_record record;
  std::string stored;
  std::vector<routing::rollout_state> published;
  std::vector<std::string> logs;
  std::vector<call_webhook> calls;
  std::vector<webhook_outcome> outcomes;
  std::map<std::string, double> counters;
  std::function<bool(const call_webhook&)> hook_ok = [](const call_webhook&) { return true; };
};

}  // namespace cohort::rollout::testing
