#include "rollout/rollout_record.hpp"

#include <gtest/gtest.h>

namespace cohort::rollout {
namespace {

rollout_record sample_record() {
  rollout_record r;
  r.name = "profile-api";
  r.current = phase::waiting_promotion;
  r.step = 4;
  r.started = true;
  r.weight = 2500;
  r.joined_cohorts = {"beta", "ids-ending-0"};
  r.failed_checks = 2;
  r.step_requests = 1234;
  r.step_started = time_point(std::chrono::milliseconds(1'700'000'000'123));
  r.phase_since = time_point(std::chrono::milliseconds(1'700'000'000'456));
  r.no_data_since = time_point(std::chrono::milliseconds(1'700'000'001'000));
  r.canary_fingerprint = "revision=v2;canary=127.0.0.1:9101";
  r.run_started = time_point(std::chrono::milliseconds(1'699'999'000'000));
  r.operator_paused = true;
  r.resume_to = phase::progressing;
  r.pending_gate = gate::promotion;
  r.pending_webhooks = {"confirm-promotion"};
  r.last_analysis.at = r.phase_since;
  r.last_analysis.canary_requests = 800;
  r.last_analysis.baseline_requests = 790;
  r.last_analysis.metrics = {
      {"success-rate", 0.982, 0.999, 0.99, std::nullopt, check_result::fail},
      {"latency-p99", std::nullopt, std::nullopt, std::nullopt, 0.5, check_result::nodata}};
  r.last_analysis.sequential = sequential_summary{3.5, 100, 1.8, 42, false, "errors: e=3.5"};
  r.last_analysis.judge = judge_summary{"marginal", 80.5, "1 of 2 metrics pass"};
  r.step_series = {{"success-rate", {0.99, 0.995}, {0.999, 0.998}}};
  add_event(r, r.step_started, "info", "Advance profile-api canary weight 25%");
  add_event(r, r.phase_since, "warn", "Halt profile-api advancement success rate 98.20% < 99%");
  r.reason = "failed checks 2/5";
  return r;
}

TEST(rollout_record, json_round_trip_keeps_every_field) {
  const rollout_record r = sample_record();
  const std::string text = to_json(r);
  const auto back = from_json(text);
  ASSERT_TRUE(back.ok()) << back.err().message;
  EXPECT_EQ(to_json(*back), text);
  EXPECT_EQ(back->current, phase::waiting_promotion);
  EXPECT_EQ(back->joined_cohorts, r.joined_cohorts);
  EXPECT_EQ(back->no_data_since, r.no_data_since);
  ASSERT_EQ(back->last_analysis.metrics.size(), 2u);
  EXPECT_EQ(back->last_analysis.metrics[0].result, check_result::fail);
  EXPECT_FALSE(back->last_analysis.metrics[1].value.has_value());
  EXPECT_DOUBLE_EQ(*back->last_analysis.metrics[0].value, 0.982);
  EXPECT_EQ(back->last_analysis.judge->verdict, "marginal");
  EXPECT_EQ(back->events.size(), 2u);
  EXPECT_EQ(back->events[1].level, "warn");
}

TEST(rollout_record, phases_use_the_interface_names) {
  const std::pair<phase, const char*> names[] = {{phase::initialized, "Initialized"},
                                                 {phase::progressing, "Progressing"},
                                                 {phase::paused, "Paused"},
                                                 {phase::waiting_promotion, "WaitingPromotion"},
                                                 {phase::promoting, "Promoting"},
                                                 {phase::succeeded, "Succeeded"},
                                                 {phase::rolling_back, "RollingBack"},
                                                 {phase::failed, "Failed"}};
  for (const auto& [p, name] : names) {
    EXPECT_EQ(to_string(p), name);
    EXPECT_EQ(parse_phase(name), p);
  }
  EXPECT_FALSE(parse_phase("progressing").has_value());
}

TEST(rollout_record, malformed_json_is_an_error_value) {
  EXPECT_FALSE(from_json("not json").ok());
  EXPECT_FALSE(from_json("[]").ok());
  EXPECT_FALSE(from_json(R"({"name":"x"})").ok());
  std::string text = to_json(sample_record());
  const auto pos = text.find("WaitingPromotion");
  text.replace(pos, 16, "Sleeping");
  const auto bad = from_json(text);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.err().message.find("phase"), std::string::npos);
}

TEST(rollout_record, events_are_bounded) {
  rollout_record r;
  for (std::size_t i = 0; i < max_events + 10; ++i) {
    add_event(r, time_point{}, "info", "event " + std::to_string(i));
  }
  ASSERT_EQ(r.events.size(), max_events);
  EXPECT_EQ(r.events.front().message, "event 10");
  EXPECT_EQ(r.events.back().message, "event " + std::to_string(max_events + 9));
}

TEST(rollout_record, routing_state_by_phase) {
  rollout_record r = sample_record();
  r.current = phase::progressing;
  auto s = to_routing_state(r);
  EXPECT_EQ(s.phase, routing::rollout_state::mode::progressing);
  EXPECT_EQ(s.weight, 2500u);
  EXPECT_EQ(s.joined_cohorts, r.joined_cohorts);
  r.current = phase::succeeded;
  s = to_routing_state(r);
  EXPECT_EQ(s.phase, routing::rollout_state::mode::promoted);
  EXPECT_EQ(s.weight, full_share);
  r.current = phase::rolling_back;
  s = to_routing_state(r);
  EXPECT_EQ(s.phase, routing::rollout_state::mode::rolled_back);
  EXPECT_EQ(s.weight, 0u);
  EXPECT_TRUE(s.joined_cohorts.empty());
}

}  // namespace
}  // namespace cohort::rollout
