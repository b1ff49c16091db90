// server::controller itself (not a re-implementation of its apply()): an
// in-memory store that can refuse writes, injected wall and steady clocks, the
// gateway's metrics registry fed at chosen seconds, and a stub HTTP server on
// loopback for webhooks and Prometheus. One test (or more) per finding of
// issue 18.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/monotonic.hpp"
#include "config/loader.hpp"
#include "http_stub.hpp"
#include "memory_store.hpp"
#include "server/controller.hpp"

namespace cohort::server {
namespace {

using namespace std::chrono_literals;
using cohort::testing::http_stub;
using cohort::testing::memory_store;
using mode = routing::rollout_state::mode;

constexpr const char* name = "profile-api";
constexpr const char* key = "rollouts/profile-api";

// The rollout under test; `body` holds its steps, analysis, webhooks...
// (indented by four spaces, as under `- name:`).
struct spec {
  std::string revision = "v1";
  std::string stable = "127.0.0.1:9001";
  std::string canary = "127.0.0.1:9101";
  bool baseline = true;
  std::string body;
};

std::string yaml_of(const spec& s) {
  std::string y =
      "gateway:\n"
      "  listeners:\n"
      "    - { name: public, address: 127.0.0.1:0 }\n"
      "state:\n"
      "  store: sqlite:unused.db\n"
      "services:\n"
      "  - name: profile-api\n"
      "    subsets:\n"
      "      stable: { endpoints: [" +
      s.stable +
      "] }\n"
      "      baseline: { endpoints: [127.0.0.1:9003] }\n"
      "      canary: { endpoints: [" +
      s.canary +
      "] }\n"
      "routes:\n"
      "  - { name: all, service: profile-api }\n";
  if (s.body.empty()) {
    return y;  // no rollout at all
  }
  y += "rollouts:\n"
       "  - name: profile-api\n"
       "    service: profile-api\n"
       "    stable: stable\n"
       "    canary: canary\n"
       "    revision: " +
       s.revision + "\n";
  if (s.baseline) {
    y += "    baseline: baseline\n";
  }
  return y + s.body;
}

spec rollout_of(std::string body) {
  spec s;
  s.body = std::move(body);
  return s;
}

config::config load(const spec& s) {
  auto loaded = config::load_config_text(yaml_of(s), "t.yaml");
  if (!loaded) {
    std::string text;
    for (const auto& d : loaded.err()) {
      text += d.to_string() + "\n";
    }
    ADD_FAILURE() << text << yaml_of(s);
    return {};
  }
  return std::move(loaded.value());
}

// Success rate, 20 requests per step, 1 s intervals.
const std::string success_rate_analysis =
    "    analysis:\n"
    "      interval: 1s\n"
    "      threshold: 2\n"
    "      min_requests: 20\n"
    "      no_data_deadline: 1m\n"
    "      metrics: [ { name: success-rate, min: 99% } ]\n";
const std::string two_weights =
    "    steps: [ { weight: 10% }, { weight: 50% } ]\n" + success_rate_analysis;
// 10%, a timed pause, 50%.
std::string paused_for(const std::string& pause) {
  return "    steps: [ { weight: 10% }, { pause: " + pause + " }, { weight: 50% } ]\n" +
         success_rate_analysis;
}

class controller_test : public ::testing::Test {
 protected:
  void SetUp() override {
    // The rollout's arms, as the gateway interns them with each snapshot.
    metrics::label_model model;
    model.services.push_back({name, {"stable", "baseline", "canary"}});
    model.routes.push_back({"all", 0});
    model.rollouts.push_back({name, 0, 0});
    registry_.intern(model);
  }

  // Starts the controller on `s` and ticks it into its first step.
  void begin(const spec& s) {
    start(load(s));
    tick();
  }
  void start(const config::config& cfg) {
    ctl = std::make_unique<controller>(
        ctx, registry_, [this] { ++routing_changes; },
        controller::clocks{[this] { return wall; }, [this] { return steady; }});
    auto started = ctl->start(cfg, std::make_unique<memory_store>(stored));
    ASSERT_TRUE(started) << started.err().message;
  }

  // One line of a rollout's webhooks, calling the stub at path.
  std::string hook(const std::string& type, const std::string& path, const std::string& id = "") {
    return "      - { type: " + type + (id.empty() ? "" : ", name: " + id) + ", url: \"" +
           stub().url(path) + "\" }\n";
  }
  http_stub& stub() {
    if (!stub_) {
      stub_ = std::make_unique<http_stub>(ctx);
    }
    return *stub_;
  }

  // Both clocks move on (a wall-clock jump moves `wall` alone).
  void later(std::chrono::milliseconds d) {
    wall += d;
    steady += d;
  }
  std::uint64_t second() const { return monotonic_seconds(steady); }

  // n responses of `subset`, finished in the current second of the steady clock.
  void serve(std::string_view subset, std::uint64_t n, std::uint16_t status = 200) {
    const auto arm = registry_.find_arm(name, subset);
    ASSERT_TRUE(arm);
    for (std::uint64_t i = 0; i < n; ++i) {
      registry_.worker(0).record_window(*arm, second(), status, 5'000'000, status >= 500);
    }
  }
  // Canary and control arms at the same volume, stable at three times it.
  void traffic(std::uint64_t n, std::uint16_t canary_status = 200) {
    serve("canary", n, canary_status);
    serve("baseline", n);
    serve("stable", 3 * n);
  }

  // Runs the context until done() or the (real-time) limit.
  template <class Done>
  bool run_until(Done done, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return false;
      }
      if (ctx.stopped()) {
        ctx.restart();
      }
      ctx.run_one_for(10ms);
    }
    return true;
  }
  // Gives a request the controller should not have sent the time to arrive.
  void settle() {
    const auto until = std::chrono::steady_clock::now() + 150ms;
    run_until([&] { return std::chrono::steady_clock::now() >= until; });
  }

  // One round of the analysis loop, started; done() says when it finished.
  std::shared_ptr<bool> spawn_tick() {
    auto done = std::make_shared<bool>(false);
    net::asio::co_spawn(ctx, ctl->tick_all(), [done](std::exception_ptr e) {
      *done = true;
      if (e) {
        std::rethrow_exception(e);
      }
    });
    return done;
  }
  void tick() {
    const auto done = spawn_tick();
    ASSERT_TRUE(run_until([&] { return *done; })) << "the tick did not finish";
  }
  // A second of traffic, then the tick that analyses it.
  void interval(std::uint64_t n, std::uint16_t canary_status = 200) {
    later(1s);
    traffic(n, canary_status);
    later(1s);
    tick();
  }

  // The rollout is rolling back (everyone on stable), for a reason that says `why`.
  void expect_rolling_back(std::string_view why) const {
    EXPECT_EQ(phase(), "RollingBack");
    EXPECT_EQ(routing().phase, mode::rolled_back);
    const auto reason = state()["reason"].get<std::string>();
    EXPECT_NE(reason.find(why), std::string::npos) << reason;
  }
  nlohmann::json state() const { return ctl->describe(name); }
  std::string phase() const { return state()["phase"].get<std::string>(); }
  int step() const { return state()["step"].get<int>(); }  // 1-based; 0 before the first step
  routing::rollout_state routing() const { return ctl->routing_states().at(name); }
  std::uint64_t write_failures() const {
    metrics::server_metrics out;
    ctl->add_metrics(out);
    return out.store_write_failures;
  }
  // The record the store holds now.
  rollout::rollout_record stored_record() const {
    auto r = rollout::from_json(stored->value(key));
    EXPECT_TRUE(r) << stored->value(key);
    return r ? r.value() : rollout::rollout_record{};
  }

  net::asio::io_context ctx;
  metrics::registry registry_{1};
  std::shared_ptr<memory_store::contents> stored = std::make_shared<memory_store::contents>();
  rollout::time_point wall{std::chrono::milliseconds(1'700'000'000'000)};
  std::chrono::steady_clock::time_point steady{std::chrono::seconds(1000)};
  int routing_changes = 0;
  std::unique_ptr<http_stub> stub_;
  std::unique_ptr<controller> ctl;
};

// ---- 1. Evidence belongs to a step

// The A/B restart of the issue: requests served by the old revision in the
// second of the restart are not the new run's evidence. (Without the cut at
// the restart, the tick after it read those 100 requests and advanced.)
TEST_F(controller_test, requests_before_a_new_revision_do_not_count_for_its_first_step) {
  auto s = rollout_of(paused_for("3s"));
  begin(s);
  ASSERT_EQ(phase(), "Progressing");
  ASSERT_EQ(step(), 1);

  later(1s);
  traffic(100);  // v1's canary, not analysed yet
  later(500ms);
  s.revision = "v2";
  ctl->reconfigure(load(s));  // restarts inside the reload: the new run's first step
  ASSERT_EQ(step(), 1);
  ASSERT_EQ(stored_record().run_started, wall);
  for (int i = 0; i < 5; ++i) {
    later(1s);
    serve("stable", 100);  // the service is used; the new canary gets nobody yet
    tick();
    EXPECT_EQ(step(), 1) << "advanced on evidence from before the restart, tick " << i;
  }
  EXPECT_EQ(state()["step_requests"], 0);

  // Its own 30 requests do complete it.
  interval(30);
  ASSERT_EQ(step(), 2);
  EXPECT_EQ(phase(), "Paused");
  EXPECT_EQ(state()["completed_steps"][0]["canary_requests"], 30);
}

// A timed pause is a step like the others: its time being up is not enough.
TEST_F(controller_test, a_timed_pause_needs_its_own_min_requests) {
  auto s = rollout_of(paused_for("2s"));
  begin(s);
  interval(50);  // step 1 passes on 50 requests
  ASSERT_EQ(step(), 2);
  ASSERT_EQ(phase(), "Paused");
  for (int i = 0; i < 8; ++i) {  // four times the pause, the canary silent
    later(1s);
    serve("stable", 100);
    tick();
  }
  EXPECT_EQ(phase(), "Paused") << "the pause ended without canary requests of its own";
  EXPECT_EQ(step(), 2);
  interval(10);
  EXPECT_EQ(step(), 2) << "10 of 20 requests";
  interval(10);
  EXPECT_EQ(step(), 3);
  EXPECT_EQ(phase(), "Progressing");
  EXPECT_EQ(state()["completed_steps"][1]["canary_requests"], 20)
      << "the pause counted the previous step's requests";
}

TEST_F(controller_test, without_traffic_the_clock_never_promotes) {
  spec s;
  s.body =
      "    steps: [ { pause: 2s } ]\n"
      "    analysis: { interval: 1s, min_requests: 20 }\n";
  start(load(s));
  for (int i = 0; i < 30; ++i) {  // a quiet night, 15 times the pause
    later(1s);
    tick();
  }
  EXPECT_EQ(phase(), "Paused");
  EXPECT_EQ(routing().phase, mode::progressing);
  EXPECT_EQ(routing().weight, 0);
}

// ---- 4. Moving users toward stable never waits on the store

TEST_F(controller_test, abort_with_a_failing_store_moves_users_at_once_and_is_stored_later) {
  auto s = rollout_of(two_weights);
  begin(s);
  ASSERT_EQ(routing().weight, 1000);
  const auto changes = routing_changes;

  stored->fail_writes = true;
  const auto aborted = ctl->act(name, rollout::action::abort);
  ASSERT_TRUE(aborted) << aborted.err().message;
  EXPECT_EQ(routing().phase, mode::rolled_back) << "a rollback waited on the store";
  EXPECT_EQ(routing_changes, changes + 1) << "the rollback was not published";
  EXPECT_GE(write_failures(), 1u);
  EXPECT_EQ(state()["state_stored"], false);
  EXPECT_EQ(stored_record().current, rollout::phase::progressing);

  // Retried every tick while the store refuses; counted each time.
  const auto failures = write_failures();
  later(1s);
  tick();
  EXPECT_GT(write_failures(), failures);
  EXPECT_EQ(routing().phase, mode::rolled_back);

  stored->fail_writes = false;
  later(1s);
  tick();
  const auto rec = stored_record();
  EXPECT_TRUE(rec.current == rollout::phase::rolling_back || rec.current == rollout::phase::failed)
      << rollout::to_string(rec.current);
  EXPECT_EQ(state()["state_stored"], true);
  EXPECT_EQ(rollout::to_routing_state(rec).phase, mode::rolled_back);

  // Nothing sends users back onto the rolled-back canary.
  for (int i = 0; i < 3; ++i) {
    interval(50);
    EXPECT_EQ(routing().phase, mode::rolled_back);
  }
}

TEST_F(controller_test, a_step_toward_the_canary_is_not_applied_when_it_cannot_be_stored) {
  auto s = rollout_of(two_weights);
  begin(s);
  ASSERT_EQ(step(), 1);
  stored->fail_writes = true;
  const auto changes = routing_changes;
  interval(50);  // enough to advance to 50%
  EXPECT_EQ(step(), 1);
  EXPECT_EQ(routing().weight, 1000) << "users were moved toward the canary on an unsaved state";
  EXPECT_EQ(routing_changes, changes);
  EXPECT_GE(write_failures(), 1u);
  EXPECT_FALSE(ctl->act(name, rollout::action::promote)) << "promoted on an unsaved state";
  EXPECT_EQ(routing().phase, mode::progressing);

  stored->fail_writes = false;
  interval(50);
  EXPECT_EQ(step(), 2);
  EXPECT_EQ(routing().weight, 5000);
  EXPECT_EQ(stored_record().weight, 5000);
}

// A rollback the previous process applied but could not store is lost with
// it: while the store still refuses writes, a new process cannot know, so it
// keeps everyone on stable.
TEST_F(controller_test, a_restart_on_a_store_that_refuses_writes_holds_everyone_on_stable) {
  auto s = rollout_of(two_weights);
  begin(s);
  ASSERT_EQ(stored_record().weight, 1000);
  ctl.reset();

  stored->fail_writes = true;
  start(load(s));
  EXPECT_EQ(routing().phase, mode::rolled_back);
  EXPECT_EQ(routing().weight, 0);
  EXPECT_EQ(state()["held_on_stable"], true);
  EXPECT_GE(write_failures(), 1u);
  interval(50);
  EXPECT_EQ(routing().phase, mode::rolled_back) << "the hold ended while the store refuses";

  stored->fail_writes = false;
  const auto changes = routing_changes;
  later(1s);
  tick();
  EXPECT_EQ(state()["held_on_stable"], false);
  EXPECT_EQ(routing().phase, mode::progressing);
  EXPECT_EQ(routing().weight, 1000);
  EXPECT_GT(routing_changes, changes) << "the release was not published";
}

// ---- 3. After promotion, stable is the promoted version

TEST_F(controller_test, a_new_revision_after_promotion_is_refused_until_stable_is_repointed) {
  spec s;
  s.body =
      "    steps: [ { weight: 10% }, { weight: 50% } ]\n"
      "    analysis: { interval: 1s, min_requests: 20 }\n"
      "    promotion: manual\n";
  const auto v1 = load(s);
  start(v1);
  tick();
  ASSERT_TRUE(ctl->act(name, rollout::action::promote));
  later(1s);
  tick();
  ASSERT_EQ(phase(), "Succeeded");
  ASSERT_EQ(routing().phase, mode::promoted);
  EXPECT_EQ(state()["next_action"], "promoted: point stable at 127.0.0.1:9101");

  EXPECT_TRUE(ctl->check(v1).empty()) << "the same configuration moves nobody";

  // The next release, before anyone re-pointed stable.
  s.revision = "v2";
  const auto problems = ctl->check(load(s));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].message.find("point subset 'stable' of service 'profile-api' at "
                                     "127.0.0.1:9101 before starting a new canary"),
            std::string::npos)
      << problems[0].message;

  spec removed = s;
  removed.body.clear();
  const auto gone = ctl->check(load(removed));
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_NE(gone[0].message.find("before removing the rollout"), std::string::npos);

  // Stable now runs the promoted version: accepted, and the new run starts
  // with everyone on stable, which is where they already were.
  s.stable = "127.0.0.1:9101";
  s.canary = "127.0.0.1:9102";
  const auto v2 = load(s);
  EXPECT_TRUE(ctl->check(v2).empty());
  ctl->reconfigure(v2);
  EXPECT_EQ(routing().phase, mode::progressing);
  EXPECT_EQ(step(), 1) << "the new canary starts at its first step, the others stay on stable";
  EXPECT_EQ(routing().weight, 1000);
  EXPECT_FALSE(state().contains("next_action"));
}

// ---- 8. Webhooks

// Two gate hooks answering in different ticks: the first answer is kept
// until the second comes (it used to be dropped, and the gate waited forever).
TEST_F(controller_test, two_gate_hooks_answering_in_different_ticks_resolve_the_gate) {
  spec s;
  s.body = two_weights + "    webhooks:\n" + hook("confirm-rollout", "/a", "a") +
           hook("confirm-rollout", "/b", "b");
  stub().on("/b", http_stub::answer::held());
  begin(s);
  ASSERT_TRUE(run_until([&] { return stub().answered("/a") == 1 && stub().held("/b") == 1; }));
  later(1s);
  tick();  // a's answer is in, b's is not
  EXPECT_EQ(phase(), "Initialized");
  EXPECT_TRUE(routing().hold_canary_pins) << "pinned cohorts reached the canary before the gate";

  stub().release("/b", {});
  ASSERT_TRUE(run_until([&] { return stub().answered("/b") == 1; }));
  later(1s);
  tick();
  EXPECT_EQ(phase(), "Progressing");
  EXPECT_EQ(step(), 1);
  EXPECT_FALSE(routing().hold_canary_pins);
  EXPECT_EQ(stub().count("/a"), 1u) << "a gate asked again while its ask was open";
}

// Flagger's meaning: a failing pre-rollout is a failed check, asked once per
// interval (not every tick), rolled back at `threshold`, and post-rollout
// hears the failure. The hook's answer is in the reason.
TEST_F(controller_test, a_failing_pre_rollout_is_asked_once_per_interval_and_rolls_back) {
  spec s;
  s.body =
      "    steps: [ { weight: 10% } ]\n"
      "    analysis: { interval: 2s, threshold: 2, min_requests: 20 }\n"
      "    webhooks:\n" +
      hook("pre-rollout", "/pre") + hook("post-rollout", "/post");
  stub().on("/pre", http_stub::answer::with(500, "database not migrated"));
  begin(s);  // asks (three attempts)
  ASSERT_TRUE(run_until([&] { return stub().answered("/pre") == 3; }));
  later(1s);
  tick();  // the failure counts; one second is not an interval: no new ask
  EXPECT_EQ(state()["failed_checks"], 1);
  EXPECT_NE(state()["reason"].get<std::string>().find("database not migrated"), std::string::npos)
      << state()["reason"];
  EXPECT_EQ(phase(), "Initialized");
  settle();
  EXPECT_EQ(stub().count("/pre"), 3u) << "asked again within the interval";

  later(1s);
  tick();  // an interval after the first ask: asked again
  ASSERT_TRUE(run_until([&] { return stub().answered("/pre") == 6; }));
  later(1s);
  tick();
  EXPECT_EQ(phase(), "RollingBack") << state()["reason"];
  EXPECT_EQ(routing().phase, mode::rolled_back);
  later(1s);
  tick();
  EXPECT_EQ(phase(), "Failed");
  ASSERT_TRUE(run_until([&] { return stub().count("/post") == 1; }));
  EXPECT_NE(stub().received("/post")[0].body.find("\"outcome\":\"failed\""), std::string::npos);
}

TEST_F(controller_test, a_rollback_hook_answering_2xx_rolls_back) {
  spec s;
  s.body = two_weights + "    webhooks:\n" + hook("rollback", "/rollback");
  stub().on("/rollback", http_stub::answer::with(200, "error budget spent"));
  begin(s);
  interval(5);  // an analysis tick asks the hook
  ASSERT_TRUE(run_until([&] { return stub().answered("/rollback") == 1; }));
  later(1s);
  tick();
  expect_rolling_back("error budget spent");
}

// ---- 9. A reload while a Prometheus query hangs (run under ASan too)

class reload_mid_tick : public controller_test {
 protected:
  std::string metrics_of(int count,
                         const std::string& steps = "[ { weight: 10% }, { weight: 50% } ]",
                         int min_requests = 1000) {
    std::string prom = "{ name: checkout-errors, max: 0.5, prometheus: { address: \"" +
                       stub().url("") + "\", query: 'sum(rate(checkout_errors[1m]))' } }";
    std::string list = count == 1 ? prom
                                  : "{ name: success-rate, min: 99% }, " + prom +
                                        ", { name: latency-p99, max: 500ms }";
    return "    steps: " + steps +
           "\n"
           "    analysis:\n"
           "      interval: 1s\n"
           "      threshold: 1\n"
           "      min_requests: " +
           std::to_string(min_requests) + "\n      metrics: [ " + list + " ]\n";
  }
  spec with(int metrics) {
    spec s;
    s.body = metrics_of(metrics);
    return s;
  }
  // An analysis tick whose query hangs; `reload` runs while it waits, then
  // the query is answered with `a`.
  void hang_then(const std::function<void()>& reload, const http_stub::answer& a) {
    stub().on(path, http_stub::answer::held());
    later(1s);
    traffic(50);
    later(1s);
    const auto done = spawn_tick();
    ASSERT_TRUE(run_until([&] { return stub().held(path) == 1; }));
    EXPECT_FALSE(*done);
    reload();
    stub().release(path, a);
    ASSERT_TRUE(run_until([&] { return *done; }));
  }

  const std::string path = "/api/v1/query";
  const http_stub::answer passing = http_stub::answer::with(
      200, R"({"status":"success","data":{"resultType":"scalar","result":[1,"0"]}})");
  // 7 errors per second: far above max 0.5 with threshold 1, so an applied
  // analysis would roll back at once.
  const http_stub::answer failing = http_stub::answer::with(
      200, R"({"status":"success","data":{"resultType":"scalar","result":[1,"7"]}})");
};

TEST_F(reload_mid_tick, the_abandoned_analysis_is_not_applied) {
  start(load(with(1)));
  tick();
  ASSERT_EQ(step(), 1);
  // One metric when asked, three when answered.
  hang_then([&] { ctl->reconfigure(load(with(3))); }, failing);
  EXPECT_EQ(phase(), "Progressing");
  EXPECT_EQ(state()["failed_checks"], 0);
  EXPECT_EQ(state()["last_analysis"]["metrics"].size(), 0u);

  // Three when asked, one when the connection drops (the failed query is
  // logged with its text: the query must still be owned).
  hang_then([&] { ctl->reconfigure(load(with(1))); }, http_stub::answer::closed());
  EXPECT_EQ(phase(), "Progressing");
  EXPECT_EQ(state()["failed_checks"], 0);

  // Not vacuous: the same answer, without a reload, rolls back.
  stub().on(path, failing);
  interval(50);
  EXPECT_EQ(phase(), "RollingBack");
}

TEST_F(reload_mid_tick, a_rollout_removed_while_its_query_hangs) {
  start(load(with(3)));
  tick();
  hang_then(
      [&] {
        spec none;
        ctl->reconfigure(load(none));
      },
      failing);
  EXPECT_FALSE(ctl->manages(name));
  later(1s);
  tick();  // the retired rollout is gone
}

// ---- 10. Durations use the steady clock

TEST_F(controller_test, a_wall_clock_jump_does_not_end_a_timed_pause) {
  begin(rollout_of(paused_for("10s")));
  interval(50);
  ASSERT_EQ(phase(), "Paused");
  const auto pause_began = steady;
  wall += std::chrono::hours(24);  // NTP, a VM resumed, an operator
  while (steady - pause_began < 9s) {
    later(1s);
    traffic(10);
    tick();
    EXPECT_EQ(phase(), "Paused") << "after " << (steady - pause_began) / 1s << " s";
  }
  later(1s);
  traffic(10);
  tick();
  EXPECT_EQ(phase(), "Progressing") << "the pause did not end after 10 s of the steady clock";
  EXPECT_EQ(step(), 3);
}

TEST_F(controller_test, a_wall_clock_jump_does_not_trip_the_no_data_deadline) {
  spec s;
  s.body =
      "    steps: [ { weight: 10% } ]\n"
      "    analysis: { interval: 1s, min_requests: 20, no_data_deadline: 20s }\n";
  begin(s);
  for (int i = 0; i < 3; ++i) {  // users arrive; none reaches the canary
    later(1s);
    serve("stable", 100);
    tick();
  }
  wall += std::chrono::hours(24);
  later(1s);
  serve("stable", 100);
  tick();
  EXPECT_EQ(phase(), "Progressing") << state()["reason"];
  for (int i = 0; i < 30 && phase() == "Progressing"; ++i) {
    later(1s);
    serve("stable", 100);
    tick();
  }
  expect_rolling_back("check the rollout's routing");
}

// ---- 7. Stable is the control without a baseline

TEST_F(controller_test, without_a_baseline_the_sequential_test_compares_with_stable) {
  spec s;
  s.baseline = false;
  s.body =
      "    steps: [ { weight: 10% }, { weight: 50% } ]\n"
      "    analysis:\n"
      "      interval: 1s\n"
      "      threshold: 100\n"
      "      min_requests: 100000\n"
      "      sequential: { alpha: 0.01 }\n";
  begin(s);
  later(1s);
  for (int i = 0; i < 30 && phase() == "Progressing"; ++i) {
    serve("canary", 160);
    serve("canary", 40, 503);  // 20% errors every second
    serve("stable", 200);
    later(1s);
    tick();
    if (i == 1) {
      const auto last = state()["last_analysis"];
      EXPECT_EQ(last["control"], "stable");
      ASSERT_TRUE(last.contains("sequential"));
      EXPECT_GE(last["sequential"]["seconds"], 1);
      EXPECT_EQ(state()["control"], "stable");
    }
  }
  expect_rolling_back("sequential test rejected");
}

// ---- 6. No comparison, no pass

TEST_F(controller_test, a_step_without_control_traffic_holds) {
  spec s;
  s.body =
      "    steps: [ { weight: 10% }, { weight: 50% } ]\n"
      "    analysis:\n"
      "      interval: 1s\n"
      "      min_requests: 20\n"
      "      no_data_deadline: 1m\n"
      "      sequential: { alpha: 0.01 }\n";
  begin(s);
  for (int i = 0; i < 5; ++i) {
    later(1s);
    serve("canary", 50);
    serve("stable", 100);  // the baseline gets nobody
    tick();
  }
  EXPECT_EQ(step(), 1) << "advanced on canary requests alone";
  EXPECT_EQ(state()["step_requests"], 0);
  interval(50);
  EXPECT_EQ(step(), 2);
}

// ---- 2. Status classes

TEST_F(controller_test, a_canary_answering_403_is_rolled_back_and_an_a_a_is_not) {
  spec s;
  s.body =
      "    steps: [ { weight: 10% }, { weight: 50% } ]\n"
      "    analysis:\n"
      "      interval: 1s\n"
      "      threshold: 2\n"
      "      min_requests: 20\n"
      "      metrics: [ { name: success-rate, min: 99% }, { name: 4xx-increase, max: 5% } ]\n";
  begin(s);
  interval(50);  // A/A: the same statuses on both arms
  EXPECT_EQ(step(), 2);
  interval(50, 403);
  EXPECT_EQ(state()["failed_checks"], 1);
  interval(50, 403);
  EXPECT_EQ(phase(), "RollingBack");
  EXPECT_EQ(routing().phase, mode::rolled_back);
}

// An operator's resume while the interval's query hangs: the evidence was
// gathered during the manual pause, and must not complete the step the resume
// started (here the last one, so the canary would be promoted on it).
TEST_F(reload_mid_tick, a_resume_while_a_query_hangs_does_not_lend_the_pause_its_evidence) {
  spec s;
  s.body = metrics_of(1, "[ { weight: 10% }, { pause: manual }, { weight: 50% } ]", 20);
  stub().on(path, passing);
  begin(s);
  interval(50);
  ASSERT_EQ(phase(), "Paused");
  hang_then(
      [&] {
        ASSERT_TRUE(ctl->act(name, rollout::action::resume));
        later(300ms);  // Prometheus answers a moment after the resume
      },
      passing);
  EXPECT_EQ(step(), 3);
  EXPECT_EQ(phase(), "Progressing") << state()["reason"];
  EXPECT_EQ(state()["step_requests"], 0);
  EXPECT_EQ(routing().weight, 5000);
}

}  // namespace
}  // namespace cohort::server
