#include "rollout/machine.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>

#include "test_support.hpp"

namespace cohort::rollout {
namespace {

using namespace testing;
using mode = routing::rollout_state::mode;

// Starts the reference rollout: the pre-rollout gate is asked, then passes.
void start(driver& d) {
  d.tick();
  ASSERT_EQ(d.record.current, phase::initialized);
  ASSERT_EQ(d.record.pending_gate, gate::start);
  d.tick();
  ASSERT_EQ(d.record.current, phase::progressing);
}

TEST(machine, healthy_canary_walks_every_step_to_succeeded) {
  driver d(reference_config());
  start(d);
  EXPECT_EQ(d.record.step, 0u);
  EXPECT_EQ(d.record.joined_cohorts, std::vector<std::string>{"beta"});
  EXPECT_EQ(d.record.weight, 0u);
  ASSERT_FALSE(d.published.empty());
  EXPECT_EQ(d.published.back().joined_cohorts, std::vector<std::string>{"beta"});

  const std::vector<basis_points> weights = {100, 500, 500, 2500};
  for (std::size_t i = 0; i < weights.size(); ++i) {
    d.tick(evidence(600));
    EXPECT_EQ(d.record.step, i) << "600 < min_requests must not advance";
    d.tick(evidence(600));
    EXPECT_EQ(d.record.step, i + 1);
    EXPECT_EQ(d.record.weight, weights[i]);
    EXPECT_EQ(d.published.back().weight, weights[i]);
  }
  EXPECT_TRUE(d.logged("Advance profile-api canary weight 1%"));
  EXPECT_TRUE(d.logged("Advance profile-api canary weight 5%"));
  EXPECT_TRUE(d.logged("Advance profile-api canary cohort ids-ending-0"));
  EXPECT_EQ(d.record.joined_cohorts, (std::vector<std::string>{"beta", "ids-ending-0"}));

  // The manual pause step.
  d.tick(evidence(1200));
  ASSERT_EQ(d.record.current, phase::paused);
  EXPECT_EQ(d.record.step, 5u);
  for (int i = 0; i < 5; ++i) {
    d.tick(evidence(1200));
  }
  EXPECT_EQ(d.record.current, phase::paused) << "a manual pause waits for resume";
  ASSERT_TRUE(d.act(action::resume));
  EXPECT_EQ(d.record.current, phase::progressing);
  EXPECT_EQ(d.record.step, 6u);
  EXPECT_EQ(d.record.weight, 5000u);
  EXPECT_TRUE(d.logged("Advance profile-api canary weight 50%"));

  d.tick(evidence(1200));
  ASSERT_EQ(d.record.current, phase::promoting);
  EXPECT_EQ(d.published.back().phase, mode::promoted);
  EXPECT_EQ(d.published.back().weight, full_share);
  d.tick();
  EXPECT_EQ(d.record.current, phase::succeeded);
  EXPECT_TRUE(d.logged("Promotion completed profile-api"));
  EXPECT_EQ(d.record.failed_checks, 0u);
  EXPECT_GT(d.counters["cohort_analysis_checks_total/pass"], 10);

  // The store holds what was applied.
  const auto stored = from_json(d.stored);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->current, phase::succeeded);
}

// A rollout with a rollback hook, at its second step (1%), the hook answering "no".
void start_with_rollback_hook(driver& d) {
  // The rollback hook is asked every interval; "no" (non-2xx) keeps the rollout going.
  d.hook_ok = [](const call_webhook& c) { return c.type != config::webhook_type::rollback; };
  start(d);
  d.tick(evidence(1200));
  ASSERT_EQ(d.record.current, phase::progressing);
  ASSERT_EQ(d.record.weight, 100u);
}

config::rollout_config with_rollback_hook(config::rollout_config cfg) {
  config::webhook_config rb;
  rb.type = config::webhook_type::rollback;
  rb.url = "http://127.0.0.1:9500/rollback";
  cfg.webhooks.push_back(rb);
  return cfg;
}

TEST(machine, failing_success_rate_rolls_back_after_threshold_intervals) {
  auto cfg = reference_config();
  cfg.analysis.sequential.reset();  // the threshold model alone
  driver d(with_rollback_hook(cfg));
  start_with_rollback_hook(d);

  for (std::uint32_t i = 1; i <= 4; ++i) {
    d.tick(evidence(1000, 0.018));
    EXPECT_EQ(d.record.failed_checks, i);
    EXPECT_EQ(d.record.current, phase::progressing);
    EXPECT_EQ(d.record.step, 1u) << "a failed interval never advances";
  }
  EXPECT_TRUE(d.logged("Halt profile-api advancement success rate 98.20% < 99%"));
  d.tick(evidence(1000, 0.018));
  EXPECT_EQ(d.record.current, phase::rolling_back);
  EXPECT_TRUE(d.logged("Rolling back profile-api failed checks threshold reached 5"));
  ASSERT_FALSE(d.published.empty());
  EXPECT_EQ(d.published.back().phase, mode::rolled_back);
  EXPECT_EQ(d.published.back().weight, 0u);
  EXPECT_TRUE(d.published.back().joined_cohorts.empty());
  EXPECT_TRUE(std::any_of(d.calls.begin(), d.calls.end(), [](const call_webhook& c) {
    return c.type == config::webhook_type::rollback && c.gate;
  }));
  d.tick();
  EXPECT_EQ(d.record.current, phase::failed);
  EXPECT_EQ(to_routing_state(d.record).phase, mode::rolled_back);
  EXPECT_EQ(d.record.reason, "failed checks threshold reached 5");
  EXPECT_EQ(d.counters["cohort_analysis_checks_total/fail"], 5);
  // Failed is final: more evidence changes nothing.
  d.tick(evidence(5000));
  EXPECT_EQ(d.record.current, phase::failed);
}

TEST(machine, latency_failure_rolls_back) {
  auto cfg = reference_config();
  cfg.analysis.sequential.reset();
  driver d(cfg);
  start(d);
  for (int i = 0; i < 5; ++i) {
    d.tick(evidence(1000, 0.0, 0.812));
  }
  EXPECT_TRUE(d.logged("Halt profile-api advancement latency p99 812ms > 500ms"));
  EXPECT_EQ(d.record.current, phase::rolling_back);
  EXPECT_EQ(d.record.step, 0u);
  EXPECT_EQ(d.published.back().phase, mode::rolled_back);
}

TEST(machine, no_traffic_holds_until_the_deadline_then_fails) {
  driver d(reference_config());
  start(d);
  d.tick(evidence(1200));
  ASSERT_EQ(d.record.step, 1u);
  // 30 s deadline, 1 s ticks: 29 quiet intervals hold without a failed check.
  for (int i = 0; i < 30; ++i) {
    d.tick(evidence(0));
    ASSERT_EQ(d.record.current, phase::progressing) << "tick " << i;
    EXPECT_EQ(d.record.failed_checks, 0u);
    EXPECT_EQ(d.record.step, 1u);
  }
  EXPECT_TRUE(d.logged("Halt profile-api advancement no canary traffic (insufficient evidence)"));
  // Traffic comes back: the clock restarts.
  d.tick(evidence(300));
  EXPECT_FALSE(d.record.no_data_since.has_value());
  for (int i = 0; i < 30; ++i) {
    d.tick(evidence(0));
  }
  EXPECT_EQ(d.record.current, phase::progressing);
  d.tick(evidence(0));
  EXPECT_EQ(d.record.current, phase::rolling_back);
  EXPECT_EQ(d.record.reason.rfind("no canary traffic for 30s while the service served 1000 "
                                  "requests in the last interval: check the rollout's routing",
                                  0),
            0u)
      << d.record.reason;
}

TEST(machine, a_reload_keeps_the_sequential_evidence) {
  driver d(reference_config());
  start(d);
  for (int i = 0; i < 5; ++i) {
    d.tick(evidence(100));
  }
  ASSERT_TRUE(d.record.last_analysis.sequential);
  const auto seconds = d.record.last_analysis.sequential->seconds;
  ASSERT_GE(seconds, 5u);
  // What the controller does on a reload that leaves the rollout's test alone.
  machine reloaded(reference_config());
  reloaded.keep_evidence_from(d.m);
  d.m = std::move(reloaded);
  d.tick(evidence(100));
  EXPECT_EQ(d.record.last_analysis.sequential->seconds, seconds + 1) << "not reset to zero";
  // A different test (another alpha) starts from zero.
  auto other = reference_config();
  other.analysis.sequential->alpha = 0.05;
  machine changed(other);
  changed.keep_evidence_from(d.m);
  d.m = std::move(changed);
  d.tick(evidence(100));
  EXPECT_EQ(d.record.last_analysis.sequential->seconds, 1u);
}

TEST(machine, a_quiet_service_holds_indefinitely) {
  driver d(reference_config());
  start(d);
  d.tick(evidence(1200));
  ASSERT_EQ(d.record.step, 1u);
  // A night without any user: far past the 30 s deadline, nothing fails or advances.
  for (int i = 0; i < 300; ++i) {
    d.tick(evidence(0, 0.0, 0.120, 0));
    ASSERT_EQ(d.record.current, phase::progressing) << "tick " << i;
  }
  EXPECT_EQ(d.record.step, 1u);
  EXPECT_EQ(d.record.failed_checks, 0u);
}

TEST(machine, no_control_traffic_holds_the_step) {
  driver d(reference_config());
  start(d);
  auto ev = evidence(1200);
  ev.baseline = {0, 0};
  for (int i = 0; i < 5; ++i) {
    d.tick(ev);
  }
  EXPECT_EQ(d.record.step, 0u) << "a step without a comparison does not advance";
  EXPECT_EQ(d.record.step_requests, 0u);
  EXPECT_TRUE(
      d.logged("Halt profile-api advancement no baseline traffic to compare with (insufficient "
               "evidence)"));
}

TEST(machine, a_timed_pause_needs_its_own_evidence) {
  auto cfg = reference_config();
  config::step_config pause;
  pause.kind = config::step_kind::pause;
  pause.pause = 5s;
  cfg.steps = {cfg.steps[1], pause};  // 1%, then a 5 s pause, then promotion
  cfg.webhooks.clear();
  driver d(cfg);
  d.tick();
  d.tick(evidence(1200));
  ASSERT_EQ(d.record.current, phase::paused);
  // The pause is over long before anything arrives: it holds, it does not promote.
  for (int i = 0; i < 60; ++i) {
    d.tick(evidence(0, 0.0, 0.120, 0));
    ASSERT_EQ(d.record.current, phase::paused) << "tick " << i;
  }
  d.tick(evidence(600));
  EXPECT_EQ(d.record.current, phase::paused) << "600 of 1000 requests";
  d.tick(evidence(600));
  EXPECT_EQ(d.record.current, phase::promoting);
  EXPECT_TRUE(d.logged("Resuming profile-api after 5s"));
  ASSERT_EQ(d.record.completed_steps.size(), 2u);
  EXPECT_EQ(d.record.completed_steps[1].canary_requests, 1200u);
}

TEST(machine, a_timed_pause_is_measured_on_the_steady_clock) {
  auto cfg = reference_config();
  config::step_config pause;
  pause.kind = config::step_kind::pause;
  pause.pause = 60s;
  cfg.steps = {cfg.steps[1], pause};
  cfg.webhooks.clear();
  machine m(cfg);
  const time_point wall{std::chrono::milliseconds(1'700'000'000'000)};
  auto rec = m.initial("fp", wall);
  tick_input in;
  in.now = wall;
  in.steady = 1000ms;
  in.canary_fingerprint = "fp";
  rec = m.tick(rec, in).next;
  in.now += 1s;
  in.interval = evidence(1200);
  rec = m.tick(rec, in).next;
  ASSERT_EQ(rec.current, phase::paused);
  // The wall clock jumps a day ahead; the steady clock moves one second.
  in.now = wall + 24h;
  in.steady = 2000ms;
  rec = m.tick(rec, in).next;
  EXPECT_EQ(rec.current, phase::paused) << "a clock step does not end a pause";
  in.steady = 62000ms;
  rec = m.tick(rec, in).next;
  EXPECT_EQ(rec.current, phase::promoting);
}

TEST(machine, a_rollback_hook_answering_2xx_rolls_back) {
  driver d(with_rollback_hook(reference_config()));
  start_with_rollback_hook(d);
  d.hook_ok = [](const call_webhook&) { return true; };
  d.tick(evidence(100));
  d.tick(evidence(100));
  EXPECT_EQ(d.record.current, phase::rolling_back);
  EXPECT_EQ(d.record.reason.rfind("rollback webhook rollback", 0), 0u) << d.record.reason;
}

TEST(machine, post_rollout_is_sent_on_failure_with_the_outcome) {
  auto cfg = reference_config();
  config::webhook_config post;
  post.type = config::webhook_type::post_rollout;
  post.url = "http://127.0.0.1:9500/post";
  cfg.webhooks.push_back(post);
  driver d(cfg);
  start(d);
  ASSERT_TRUE(d.act(action::abort));
  d.tick();
  ASSERT_EQ(d.record.current, phase::failed);
  const auto it = std::find_if(d.calls.begin(), d.calls.end(), [](const call_webhook& c) {
    return c.type == config::webhook_type::post_rollout;
  });
  ASSERT_NE(it, d.calls.end());
  EXPECT_NE(it->payload.find(R"("outcome":"failed")"), std::string::npos) << it->payload;
}

TEST(machine, manual_promotion_waits_for_promote) {
  auto cfg = reference_config();
  cfg.promotion = config::promotion_mode::manual;
  cfg.steps.resize(2);  // beta, then 1%
  driver d(cfg);
  start(d);
  for (int i = 0; i < 4; ++i) {
    d.tick(evidence(1200));
  }
  ASSERT_EQ(d.record.current, phase::waiting_promotion);
  for (int i = 0; i < 10; ++i) {
    d.tick(evidence(1200));
  }
  EXPECT_EQ(d.record.current, phase::waiting_promotion);
  EXPECT_EQ(d.record.weight, 100u);
  ASSERT_TRUE(d.act(action::promote));
  EXPECT_EQ(d.record.current, phase::promoting);
  EXPECT_EQ(d.published.back().phase, mode::promoted);
  d.tick();
  EXPECT_EQ(d.record.current, phase::succeeded);
}

TEST(machine, operator_pause_holds_and_resume_returns) {
  driver d(reference_config());
  start(d);
  ASSERT_TRUE(d.act(action::pause));
  EXPECT_EQ(d.record.current, phase::paused);
  EXPECT_FALSE(d.act(action::pause)) << "already paused";
  for (int i = 0; i < 5; ++i) {
    d.tick(evidence(5000));
  }
  EXPECT_EQ(d.record.step, 0u);
  ASSERT_TRUE(d.act(action::resume));
  EXPECT_EQ(d.record.current, phase::progressing);
  EXPECT_EQ(d.record.step, 0u);
  d.tick(evidence(1200));
  EXPECT_EQ(d.record.step, 1u);
  EXPECT_FALSE(d.act(action::resume)) << "not paused";
}

TEST(machine, timed_pause_step_resumes_by_itself) {
  auto cfg = reference_config();
  cfg.steps[5].pause = std::chrono::milliseconds(10'000);
  cfg.steps.resize(7);
  driver d(cfg);
  start(d);
  while (d.record.current != phase::paused) {
    d.tick(evidence(1200));
  }
  for (int i = 0; i < 9; ++i) {
    d.tick(evidence(100));
    EXPECT_EQ(d.record.current, phase::paused);
  }
  d.tick(evidence(100));
  EXPECT_EQ(d.record.current, phase::progressing);
  EXPECT_EQ(d.record.weight, 5000u);
}

TEST(machine, failing_pre_rollout_webhook_counts_as_a_failed_check) {
  driver d(reference_config());  // threshold 5
  d.hook_ok = [](const call_webhook&) { return false; };
  for (int i = 0; i < 8; ++i) {
    d.tick(evidence(1000));
    EXPECT_FALSE(d.record.started);
    if (d.record.current != phase::initialized) {
      break;
    }
    EXPECT_TRUE(to_routing_state(d.record).hold_canary_pins) << "pins wait for the gate";
  }
  EXPECT_EQ(d.record.current, phase::rolling_back);
  EXPECT_EQ(d.record.failed_checks, 5u);
  EXPECT_TRUE(
      d.logged("Halt profile-api advancement start webhook pre-rollout failed: status 500"));
  EXPECT_EQ(to_routing_state(d.record).weight, 0u);
  EXPECT_TRUE(to_routing_state(d.record).joined_cohorts.empty());
}

TEST(machine, failing_confirm_rollout_waits_and_is_asked_once_per_interval) {
  auto cfg = reference_config();
  cfg.analysis.interval = 5s;
  cfg.webhooks[0].type = config::webhook_type::confirm_rollout;
  driver d(cfg);
  d.hook_ok = [](const call_webhook&) { return false; };
  for (int i = 0; i < 20; ++i) {  // 20 one-second ticks
    d.tick(evidence(1000));
    EXPECT_EQ(d.record.current, phase::initialized);
  }
  EXPECT_EQ(d.record.failed_checks, 0u) << "confirm-rollout halts, it does not count";
  const auto asks =
      std::count_if(d.calls.begin(), d.calls.end(), [](const call_webhook& c) { return c.gate; });
  EXPECT_GE(asks, 3);
  EXPECT_LE(asks, 5) << "asked once per 5 s interval, not every tick";
  d.hook_ok = [](const call_webhook&) { return true; };
  for (int i = 0; i < 7; ++i) {
    d.tick();
  }
  EXPECT_EQ(d.record.current, phase::progressing);
  EXPECT_FALSE(to_routing_state(d.record).hold_canary_pins);
}

TEST(machine, gate_payload_carries_name_phase_step_weight_and_analysis) {
  driver d(reference_config());
  d.tick();
  ASSERT_FALSE(d.calls.empty());
  const auto& c = d.calls.back();
  EXPECT_EQ(c.name, "pre-rollout");
  EXPECT_EQ(c.url, "http://127.0.0.1:9500/ready");
  EXPECT_TRUE(c.gate);
  const auto body = nlohmann::json::parse(c.payload);
  EXPECT_EQ(body["name"], "profile-api");
  EXPECT_EQ(body["phase"], "Initialized");
  EXPECT_EQ(body["step"], 0);
  EXPECT_EQ(body["weight"], 0);
  EXPECT_TRUE(body.contains("last_analysis"));
}

TEST(machine, sequential_rejection_rolls_back_at_once) {
  auto cfg = reference_config();
  cfg.analysis.metrics.clear();  // no threshold checks: only the sequential test can act
  driver d(cfg);
  start(d);
  int ticks = 0;
  while (d.record.current == phase::progressing && ticks < 30) {
    interval_evidence ev = evidence(400);
    ev.seconds.clear();
    // 10% canary errors against 0.5% on the baseline, second by second.
    for (int s = 0; s < 10; ++s) {
      ev.seconds.push_back(second_counts{{40, 4}, {40, 0}, std::nullopt, std::nullopt});
    }
    d.tick(ev);
    ++ticks;
  }
  EXPECT_EQ(d.record.current, phase::rolling_back);
  EXPECT_LT(ticks, 30);
  EXPECT_EQ(d.record.failed_checks, 0u) << "no threshold count was needed";
  ASSERT_TRUE(d.record.last_analysis.sequential.has_value());
  EXPECT_TRUE(d.record.last_analysis.sequential->rejected);
  EXPECT_GE(d.record.last_analysis.sequential->e_value, 100);
  EXPECT_EQ(d.record.reason.rfind("sequential test rejected", 0), 0u) << d.record.reason;
  EXPECT_EQ(d.published.back().phase, mode::rolled_back);
}

TEST(machine, healthy_sequential_evidence_does_not_reject) {
  driver d(reference_config());
  start(d);
  for (int i = 0; i < 40 && d.record.current == phase::progressing; ++i) {
    interval_evidence ev = evidence(400);
    ev.seconds = {second_counts{{400, 2}, {400, 2}, std::nullopt, std::nullopt}};
    d.tick(ev);
  }
  EXPECT_NE(d.record.current, phase::rolling_back);
}

TEST(machine, new_canary_fingerprint_restarts_at_step_zero) {
  driver d(reference_config());
  start(d);
  for (int i = 0; i < 6; ++i) {
    d.tick(evidence(1200));
  }
  ASSERT_GE(d.record.step, 2u);
  ASSERT_GT(d.record.weight, 0u);
  d.fp = "revision=;canary=b:2";
  d.tick(evidence(1200));
  EXPECT_EQ(d.record.current, phase::initialized);
  EXPECT_EQ(d.record.step, 0u);
  EXPECT_EQ(d.record.weight, 0u);
  EXPECT_TRUE(d.record.joined_cohorts.empty());
  EXPECT_EQ(d.record.canary_fingerprint, "revision=;canary=b:2");
  EXPECT_TRUE(d.logged("New revision detected! Restarting analysis for profile-api"));
  d.tick();
  EXPECT_EQ(d.record.current, phase::progressing);
  EXPECT_EQ(d.record.step, 0u);
}

TEST(machine, canary_fingerprint_follows_revision_and_endpoints) {
  auto cfg = reference_config();
  const std::vector<host_port> eps = {{"127.0.0.1", 9102}, {"127.0.0.1", 9101}};
  const std::vector<host_port> reordered = {eps[1], eps[0]};
  EXPECT_EQ(canary_fingerprint(cfg, eps), canary_fingerprint(cfg, reordered));
  const auto before = canary_fingerprint(cfg, eps);
  EXPECT_NE(before, canary_fingerprint(cfg, {eps[0]}));
  cfg.revision = "v1.1.1";
  EXPECT_NE(before, canary_fingerprint(cfg, eps));
}

TEST(machine, persisted_record_resumes_the_same_step_and_weights) {
  auto cfg = reference_config();
  cfg.analysis.sequential.reset();  // its evidence is not persisted; keep it out of this test
  driver d(cfg);
  start(d);
  for (int i = 0; i < 3; ++i) {
    d.tick(evidence(1200));
  }
  d.tick(evidence(1000, 0.02));  // one failed check on the way
  const rollout_record before = d.record;
  ASSERT_EQ(before.failed_checks, 1u);

  // A new process: a new machine (no sequential evidence), the stored record.
  auto restored = from_json(d.stored);
  ASSERT_TRUE(restored.ok()) << restored.err().message;
  EXPECT_EQ(to_json(*restored), to_json(before));
  driver d2(cfg);
  d2.record = *restored;
  d2.now = d.now;
  d2.tick();  // no evidence: nothing moves
  EXPECT_EQ(d2.record.step, before.step);
  EXPECT_EQ(d2.record.weight, before.weight);
  EXPECT_EQ(d2.record.joined_cohorts, before.joined_cohorts);
  EXPECT_EQ(d2.record.failed_checks, 1u);
  EXPECT_TRUE(d2.published.empty()) << "a restart moves no user";
  d2.tick(evidence(1200));
  EXPECT_EQ(d2.record.step, before.step + 1);
}

TEST(machine, operator_actions_are_refused_when_meaningless) {
  driver d(reference_config());
  start(d);
  EXPECT_FALSE(d.act(action::retry));
  ASSERT_TRUE(d.act(action::abort));
  EXPECT_EQ(d.record.current, phase::rolling_back);
  EXPECT_EQ(d.published.back().phase, mode::rolled_back);
  EXPECT_FALSE(d.act(action::abort));
  EXPECT_FALSE(d.act(action::promote));
  d.tick();
  EXPECT_EQ(d.record.current, phase::failed);
  EXPECT_EQ(d.record.reason, "aborted by operator");
  ASSERT_TRUE(d.act(action::retry));
  EXPECT_EQ(d.record.current, phase::initialized);
  EXPECT_EQ(d.record.failed_checks, 0u);
}

TEST(machine, rollout_webhook_gates_each_step_and_counts_failures) {
  auto cfg = reference_config();
  cfg.analysis.sequential.reset();
  cfg.webhooks.clear();
  config::webhook_config hook;
  hook.type = config::webhook_type::rollout;
  hook.url = "http://127.0.0.1:9500/step";
  cfg.webhooks.push_back(hook);
  driver d(cfg);
  d.tick();
  ASSERT_EQ(d.record.current, phase::progressing);
  d.hook_ok = [](const call_webhook&) { return false; };
  d.tick(evidence(1200));
  EXPECT_EQ(d.record.pending_gate, gate::advance);
  d.tick(evidence(1200));
  EXPECT_EQ(d.record.step, 0u);
  EXPECT_EQ(d.record.failed_checks, 1u);
  d.hook_ok = [](const call_webhook&) { return true; };
  d.tick(evidence(1200));
  d.tick(evidence(1200));
  EXPECT_EQ(d.record.step, 1u);
}

// The population only grows within a run: over random evidence, actions and
// webhook outcomes, weight and joined cohorts never shrink unless the rollout
// rolled back (everyone to stable at once) or a new run began.
TEST(machine, population_never_shrinks_property) {
  std::mt19937_64 rng(20240601);
  for (int run = 0; run < 200; ++run) {
    auto cfg = reference_config();
    if (run % 2 == 1) {
      cfg.promotion = config::promotion_mode::manual;
    }
    if (run % 3 == 0) {
      cfg.analysis.sequential.reset();
    }
    driver d(cfg);
    std::uniform_int_distribution<int> pick(0, 99);
    for (int t = 0; t < 120; ++t) {
      const rollout_record before = d.record;
      const auto routed_before = to_routing_state(before);
      const int r = pick(rng);
      d.hook_ok = [&](const call_webhook&) { return pick(rng) < 80; };
      if (r < 5) {
        const action acts[] = {action::promote, action::pause, action::resume, action::abort};
        d.act(acts[pick(rng) % 4]);
      } else if (r < 15) {
        d.tick(evidence(0));
      } else if (r < 25) {
        d.tick(evidence(1000, 0.03));
      } else if (r < 30) {
        d.tick(evidence(1000, 0.0, 0.9));
      } else if (r < 35) {
        d.tick();
      } else {
        d.tick(evidence(static_cast<std::uint64_t>(pick(rng)) * 30));
      }
      const auto routed = to_routing_state(d.record);
      if (routed.phase == mode::rolled_back) {
        EXPECT_EQ(routed.weight, 0u);
        EXPECT_TRUE(routed.joined_cohorts.empty());
        continue;
      }
      ASSERT_NE(routed_before.phase, mode::rolled_back) << "rolled back is final within a run";
      ASSERT_GE(routed.weight, routed_before.weight) << "run " << run << " tick " << t;
      for (const auto& c : routed_before.joined_cohorts) {
        ASSERT_NE(std::find(routed.joined_cohorts.begin(), routed.joined_cohorts.end(), c),
                  routed.joined_cohorts.end())
            << "cohort " << c << " left the canary, run " << run << " tick " << t;
      }
      if (routed_before.phase == mode::promoted) {
        EXPECT_EQ(routed.phase, mode::promoted);
      }
    }
  }
}

}  // namespace
}  // namespace cohort::rollout
