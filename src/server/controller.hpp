#pragma once
// The rollout controller inside `cohort serve`: it owns one state machine and
// one persisted record per rollout, feeds the machines the gateway's own
// measurements (and PromQL answers) on a timer, and applies what they decide
// in order: persist, then publish routing, then log, count and call webhooks.
//
// Runs on the main thread's io_context, like the admin API, so the two never race.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "config/config.hpp"
#include "metrics/exposition.hpp"
#include "metrics/registry.hpp"
#include "net/asio.hpp"
#include "rollout/machine.hpp"
#include "routing/snapshot.hpp"
#include "store/state_store.hpp"

namespace cohort::server {

// A rollout's gauges for /metrics: its phase, step and target shares.
metrics::rollout_view rollout_view_of(const config::rollout_config& r,
                                      const routing::rollout_state& state, std::string phase,
                                      std::int64_t step);

class controller {
 public:
  // Where the controller reads time: the wall clock stamps records, the
  // steady clock measures every duration and names the metrics seconds.
  // Tests inject both.
  struct clocks {
    std::function<rollout::time_point()> wall;
    std::function<std::chrono::steady_clock::time_point()> steady;
  };
  static clocks system_clocks();

  // publish: called with the routing states of all managed rollouts whenever
  // one changes (after the change is persisted, or before it when the change
  // moves users toward stable).
  controller(net::asio::io_context& ctx, metrics::registry& metrics,
             std::function<void()> on_routing_change, clocks time = system_clocks());
  ~controller();

  // Opens the store (or takes the one given) and restores every rollout's
  // record (or creates it), so routing_states() is right before any listener
  // opens. Refuses a configuration check() refuses.
  result<bool> start(const config::config& cfg,
                     std::unique_ptr<store::state_store> store = nullptr);
  // Problems that forbid applying `cfg`: a change that would move users who
  // are on a promoted canary back to the old version.
  config::diagnostics check(const config::config& cfg) const;
  // A new configuration (check() passed): rollouts added, removed or changed.
  void reconfigure(const config::config& cfg);
  void run();   // starts the analysis timer
  void stop();  // stops the timer (the records are already persisted)

  // Routing states of the rollouts the controller drives (those with steps).
  routing::rollout_states routing_states() const;
  bool manages(const std::string& name) const { return rollouts_.count(name) != 0; }

  // Operator actions; the JSON of the rollout after it, or an error message.
  result<nlohmann::json> act(const std::string& name, rollout::action a);

  nlohmann::json describe(const std::string& name) const;  // null when not managed
  void add_metrics(metrics::server_metrics& out) const;

  // One round of the analysis loop (run() calls it every second; tests call it directly).
  net::awaitable<void> tick_all();

  // Every transition and analysis, for the events stream.
  void set_event_sink(std::function<void(const nlohmann::json&)> sink) { sink_ = std::move(sink); }

 private:
  struct managed;

  net::awaitable<void> tick_loop();
  net::awaitable<void> tick(managed& m);
  // By value: a reload may replace the rollout's configuration while it waits.
  net::awaitable<std::optional<double>> query_prometheus(config::prometheus_query q);
  rollout::interval_evidence gather(managed& m, std::uint64_t now_s);
  bool apply(managed& m, rollout::transition t);
  // Stores the record (a compare-and-swap on the revision read); the error, if any.
  std::optional<store::store_errc> write(managed& m, const rollout::rollout_record& next);
  void retry_writes();
  // Notes a rollback the store refused in the journal beside it (see controller.cpp).
  void journal_rollback(const rollout::rollout_record& r);
  std::chrono::milliseconds steady_ms() const;
  std::uint64_t metrics_second() const;
  void call_webhook(managed& m, rollout::call_webhook call);
  std::unique_ptr<managed> restore(const config::config& cfg, const config::rollout_config& r);
  static std::string key_of(const std::string& name) { return "rollouts/" + name; }

  net::asio::io_context& ctx_;
  metrics::registry& metrics_;
  std::function<void()> on_routing_change_;
  std::function<void(const nlohmann::json&)> sink_;
  std::unique_ptr<store::state_store> store_;
  std::map<std::string, std::unique_ptr<managed>, std::less<>> rollouts_;
  std::vector<std::unique_ptr<managed>> retired_;  // removed by a reload while a tick ran
  std::map<std::tuple<std::string, std::string, std::string>, double> checks_;
  clocks clock_;
  std::uint64_t store_write_failures_ = 0;
  std::string journal_;  // the rollback journal's path; empty: none (not SQLite)
  std::unique_ptr<net::steady_timer> timer_;
  bool stopped_ = false;
  bool reconfiguring_ = false;
};

}  // namespace cohort::server
