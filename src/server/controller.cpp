#include "server/controller.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>

#include "common/log.hpp"
#include "common/monotonic.hpp"
#include "net/http_client.hpp"
#include "rollout/rollout_record.hpp"
#include "routing/decision.hpp"

namespace cohort::server {

namespace asio = net::asio;
using net::awaitable;

struct controller::managed {
  explicit managed(const config::rollout_config& r) : cfg(r), machine(r) {}
  config::rollout_config cfg;
  rollout::machine machine;
  rollout::rollout_record record;
  store::revision rev = 0;
  std::string fingerprint;
  std::string canary_endpoints;  // "host:port,...", as the configuration has them now
  std::string stable_endpoints;
  std::chrono::steady_clock::time_point next_analysis;
  std::uint64_t fed_through = 0;  // last metrics second given to the sequential test
  // Evidence starts after this metrics second: the one in which the current
  // step (or run) began, whose requests were routed with the old population.
  std::uint64_t step_epoch = 0;
  std::uint64_t generation = 0;  // bumped by every reload of the rollout's configuration
  std::vector<rollout::webhook_outcome> outcomes;  // gate and poll answers for the next tick
  bool ticking = false;
  bool removed = false;
  bool unpersisted = false;  // m.record is applied but the store has an older one
  // A write can block for SQLite's busy timeout (5 s): retries back off (1 s
  // doubling to 30 s) so a locked store does not stall the admin API.
  std::chrono::steady_clock::time_point next_retry{};
  std::chrono::seconds retry_backoff{1};
  // The store could not be written when the state was restored: a rollback
  // from before the restart may be lost, so nobody goes to the canary.
  bool hold_on_stable = false;

  const std::string& comparison_subset() const {
    return cfg.baseline.empty() ? cfg.stable : cfg.baseline;
  }
};

namespace {

// Whether a routing change sends anyone to the canary who was not there.
bool widens(const routing::rollout_state& from, const routing::rollout_state& to) {
  using mode = routing::rollout_state::mode;
  if (to.phase == mode::rolled_back) {
    return false;
  }
  if (to.phase == mode::promoted) {
    return from.phase != mode::promoted;
  }
  if (from.phase == mode::rolled_back) {
    return to.weight > 0 || !to.joined_cohorts.empty() || !to.hold_canary_pins;
  }
  if (to.weight > from.weight || (from.hold_canary_pins && !to.hold_canary_pins)) {
    return from.phase != mode::promoted;
  }
  return std::any_of(to.joined_cohorts.begin(), to.joined_cohorts.end(), [&](const auto& c) {
    return std::find(from.joined_cohorts.begin(), from.joined_cohorts.end(), c) ==
           from.joined_cohorts.end();
  });
}

// Which step of which run a record holds: evidence belongs to one.
auto step_of(const rollout::rollout_record& r) {
  return std::make_tuple(r.run_started, r.step, r.started);
}

bool promoted(rollout::phase p) {
  return p == rollout::phase::promoting || p == rollout::phase::succeeded;
}

// The rollback journal: one line per rollback the state store refused to
// take, "<rollout>\t<run started, ms>\t<canary fingerprint>", appended after
// users were moved. A restart that finds its run there resumes rolled back
// instead of from the older stored state. A retry is a new run: not matched.
std::string journal_line(const rollout::rollout_record& r) {
  return r.name + "\t" + std::to_string(r.run_started.time_since_epoch().count()) + "\t" +
         r.canary_fingerprint;
}

bool journal_has(const std::string& path, const std::string& line) {
  std::ifstream in(path);
  std::string l;
  while (std::getline(in, l)) {
    if (l == line) {
      return true;
    }
  }
  return false;
}

std::string iso_time(std::int64_t millis) {
  const std::time_t t = static_cast<std::time_t>(millis / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis % 1000));
  return buf;
}

std::uint32_t interval_seconds(const config::rollout_config& r) {
  const auto ms = r.analysis.interval.count();
  return static_cast<std::uint32_t>(std::max<long long>(1, (ms + 999) / 1000));
}

double share_of(std::uint64_t part, std::uint64_t whole) {
  return static_cast<double>(part) / static_cast<double>(whole);
}

// A built-in metric's value over a window of the canary (c) and of its
// control arm (b); nullopt when there is no data.
std::optional<double> builtin_value(const std::string& name, const metrics::window_stats& w,
                                    const metrics::window_stats* control = nullptr) {
  if (name == "requests") {
    return static_cast<double>(w.requests);
  }
  if (w.requests == 0) {
    return std::nullopt;
  }
  if (name == "success-rate" || name == "request-success-rate") {
    return w.success_rate;
  }
  if (name == "error-rate") {
    return 1.0 - w.success_rate;
  }
  if (name == "2xx-rate") {
    return share_of(w.classes[1], w.requests);
  }
  if (name == "4xx-rate") {
    return share_of(w.classes[3], w.requests);
  }
  if (name == "5xx-rate") {
    return share_of(w.classes[4], w.requests);
  }
  if (config::is_comparative_metric(name)) {
    if (control == nullptr || control->requests == 0) {
      return std::nullopt;  // nothing to compare with
    }
    const std::size_t k = name[0] == '4' ? 3 : 4;
    return share_of(w.classes[k], w.requests) - share_of(control->classes[k], control->requests);
  }
  if (name == "latency-p50") {
    return w.p50;
  }
  if (name == "latency-p90") {
    return w.p90;
  }
  if (name == "latency-p99") {
    return w.p99;
  }
  if (name == "latency-p999") {
    return w.p999;
  }
  return std::nullopt;
}

analysis::histogram to_analysis(const metrics::window_histogram& h) {
  return analysis::histogram{metrics::window_histogram::upper_bounds_seconds(), h.counts_vector()};
}

analysis::arm_counts counts_of(const metrics::second_counts& c) {
  return {c.requests, c.errors, c.classes[3]};
}

nlohmann::json arm_json(const metrics::window_stats& w) {
  nlohmann::json j = {
      {"requests", w.requests}, {"errors", w.errors}, {"client_errors", w.classes[3]}};
  if (w.requests > 0) {
    j["success_rate"] = w.success_rate;
    j["p50_ms"] = w.p50 * 1000;
    j["p99_ms"] = w.p99 * 1000;
  }
  return j;
}

}  // namespace

metrics::rollout_view rollout_view_of(const config::rollout_config& r,
                                      const routing::rollout_state& state, std::string phase,
                                      std::int64_t step) {
  const auto shares = routing::shares_of(state, !r.baseline.empty());
  metrics::rollout_view view;
  view.name = r.name;
  view.phase = std::move(phase);
  view.step = step;
  view.weight_ratio.emplace_back(r.canary, shares.canary / 10000.0);
  if (!r.baseline.empty()) {
    view.weight_ratio.emplace_back(r.baseline, shares.baseline / 10000.0);
  }
  view.weight_ratio.emplace_back(r.stable, shares.stable / 10000.0);
  return view;
}

controller::clocks controller::system_clocks() {
  return {[] {
            return std::chrono::time_point_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now());
          },
          [] { return std::chrono::steady_clock::now(); }};
}

controller::controller(asio::io_context& ctx, metrics::registry& metrics,
                       std::function<void()> on_routing_change, clocks time)
    : ctx_(ctx),
      metrics_(metrics),
      on_routing_change_(std::move(on_routing_change)),
      clock_(std::move(time)) {}

controller::~controller() = default;

std::chrono::milliseconds controller::steady_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.steady().time_since_epoch());
}

std::uint64_t controller::metrics_second() const {
  return monotonic_seconds(clock_.steady());
}

std::unique_ptr<controller::managed> controller::restore(const config::config& cfg,
                                                         const config::rollout_config& r) {
  auto m = std::make_unique<managed>(r);
  m->fingerprint = rollout::canary_fingerprint(cfg, r);
  m->canary_endpoints = rollout::subset_endpoints(cfg, r.service, r.canary);
  m->stable_endpoints = rollout::subset_endpoints(cfg, r.service, r.stable);
  m->next_analysis = clock_.steady() + r.analysis.interval;
  m->fed_through = metrics_second() - 1;
  m->step_epoch = m->fed_through;
  const auto key = key_of(r.name);
  auto got = store_->get(key);
  if (got) {
    auto parsed = rollout::from_json(got->value);
    if (!parsed) {
      log::error("cannot read the stored state of a rollout",
                 {{"rollout", r.name}, {"key", key}, {"error", parsed.err().message}});
      return nullptr;
    }
    m->record = std::move(*parsed);
    m->rev = got->rev;
    rollout::rebase_steady(m->record, clock_.wall(), steady_ms());
    if (!journal_.empty() && !rollout::is_terminal(m->record.current) &&
        journal_has(journal_, journal_line(m->record))) {
      // This run was rolled back before the restart, and the store never took it.
      m->record.current = rollout::phase::failed;
      m->record.pending_gate = rollout::gate::none;
      m->record.reason = "rolled back before a restart (from " + journal_ + ")";
      rollout::add_event(m->record, clock_.wall(), "warn",
                         "Canary failed! " + r.name +
                             " was rolled back before a restart; users are all on stable");
      m->unpersisted = true;
      log::warn("rollout resumes rolled back: the state store never took its rollback",
                {{"rollout", r.name}, {"journal", journal_}});
      return m;
    }
    if (m->record.pending_gate != rollout::gate::none) {
      // The calls asked for before the restart died with the old process and
      // their answers will never come: forget the gate, so the machine asks it
      // again (start at the next tick, advance and promotion after the next
      // passing interval). Nothing moved users while the gate was open.
      m->record.pending_gate = rollout::gate::none;
      m->record.pending_webhooks.clear();
    }
    // A rollback the previous process applied but could not store is lost
    // with it. If the store still refuses writes, that may be what happened:
    // keep everyone off the canary until a write succeeds. (A promoted canary
    // has no rollback to lose, and its users stay where they are.)
    if (!rollout::is_terminal(m->record.current) && !promoted(m->record.current)) {
      if (auto probe = store_->put_if(key, got->value, got->rev)) {
        m->rev = *probe;
      } else {
        ++store_write_failures_;
        m->hold_on_stable = true;
        log::error(
            "the state store refuses writes: every user of the rollout stays on stable "
            "until its state can be saved",
            {{"rollout", r.name}, {"error", probe.err().message}});
      }
    }
    log::info("rollout state restored", {{"rollout", r.name},
                                         {"phase", rollout::to_string(m->record.current)},
                                         {"step", std::to_string(m->record.step), true},
                                         {"weight", format_share(m->record.weight)}});
    return m;
  }
  if (got.err().code != store::store_errc::not_found) {
    log::error("cannot read the state store", {{"rollout", r.name}, {"error", got.err().message}});
    return nullptr;
  }
  m->record = m->machine.initial(m->fingerprint, clock_.wall());
  m->record.step_started_steady = steady_ms();
  auto put = store_->put_if(key, rollout::to_json(m->record), 0);
  if (!put) {
    // A new rollout sends nobody to the canary until its state is stored.
    ++store_write_failures_;
    m->hold_on_stable = true;
    m->unpersisted = true;
    log::error("cannot write the state store: the rollout holds every user on stable",
               {{"rollout", r.name}, {"error", put.err().message}});
    return m;
  }
  m->rev = *put;
  return m;
}

result<bool> controller::start(const config::config& cfg,
                               std::unique_ptr<store::state_store> store) {
  if (store) {
    store_ = std::move(store);
  } else {
    auto opened = store::open_store(cfg.state.store);
    if (!opened) {
      return error{"state store '" + cfg.state.store + "': " + opened.err().message};
    }
    store_ = std::move(*opened);
    if (cfg.state.store.starts_with("sqlite:")) {
      journal_ = cfg.state.store.substr(7) + ".rollbacks";
    }
  }
  for (const auto& r : cfg.rollouts) {
    if (r.steps.empty()) {
      continue;  // a fixed split: its weight comes from the file or the weight API
    }
    auto m = restore(cfg, r);
    if (!m) {
      return error{"cannot restore rollout '" + r.name + "' from " + cfg.state.store};
    }
    rollouts_.emplace(r.name, std::move(m));
  }
  if (const auto problems = check(cfg); !problems.empty()) {
    std::string text;
    for (const auto& d : problems) {
      text += (text.empty() ? "" : "\n") + d.to_string();
    }
    rollouts_.clear();
    return error{text};
  }
  return true;
}

config::diagnostics controller::check(const config::config& cfg) const {
  config::diagnostics out;
  for (const auto& [name, m] : rollouts_) {
    const auto& rec = m->record;
    if (!promoted(rec.current) || rec.promoted_endpoints.empty()) {
      continue;
    }
    const config::rollout_config* next = nullptr;
    for (const auto& r : cfg.rollouts) {
      if (r.name == name) {
        next = &r;
      }
    }
    const std::string service = next != nullptr ? next->service : m->cfg.service;
    const std::string stable = next != nullptr ? next->stable : m->cfg.stable;
    const bool same_canary =
        next != nullptr && rollout::canary_fingerprint(cfg, *next) == rec.canary_fingerprint;
    if (same_canary || rollout::subset_endpoints(cfg, service, stable) == rec.promoted_endpoints) {
      continue;  // nobody moves: the same canary keeps everyone, or stable is the promoted version
    }
    config::diagnostic d;
    d.where = next != nullptr ? next->where : m->cfg.where;
    d.message = "rollout '" + name + "': its canary (" + rec.promoted_endpoints +
                ") was promoted and serves every user; point subset '" + stable + "' of service '" +
                service + "' at " + rec.promoted_endpoints + " before " +
                (next == nullptr ? "removing the rollout" : "starting a new canary") +
                ", or every user would go back to the old version (" + stable + " is at " +
                rollout::subset_endpoints(cfg, service, stable) + ")";
    out.push_back(std::move(d));
  }
  return out;
}

void controller::reconfigure(const config::config& cfg) {
  // The caller publishes once the new configuration and states are complete.
  reconfiguring_ = true;
  std::map<std::string, std::unique_ptr<managed>, std::less<>> next;
  for (const auto& r : cfg.rollouts) {
    if (r.steps.empty()) {
      continue;
    }
    if (auto it = rollouts_.find(r.name); it != rollouts_.end()) {
      auto m = std::move(it->second);
      rollouts_.erase(it);
      m->cfg = r;
      rollout::machine previous = std::move(m->machine);
      m->machine = rollout::machine(r);
      m->machine.keep_evidence_from(previous);
      m->fingerprint = rollout::canary_fingerprint(cfg, r);
      m->canary_endpoints = rollout::subset_endpoints(cfg, r.service, r.canary);
      m->stable_endpoints = rollout::subset_endpoints(cfg, r.service, r.stable);
      ++m->generation;
      if (m->fingerprint != m->record.canary_fingerprint) {
        // A new canary version: restart now, inside the reload, so the new
        // canary is never served at the old version's share (not even until
        // the next tick).
        rollout::tick_input in;
        in.now = clock_.wall();
        in.steady = steady_ms();
        in.canary_fingerprint = m->fingerprint;
        apply(*m, m->machine.tick(m->record, in));
      }
      next.emplace(r.name, std::move(m));
    } else if (auto m = restore(cfg, r)) {
      next.emplace(r.name, std::move(m));
    }
  }
  for (auto& [name, m] : rollouts_) {
    m->removed = true;  // a tick in flight may still hold it
    retired_.push_back(std::move(m));
  }
  rollouts_ = std::move(next);
  reconfiguring_ = false;
}

routing::rollout_states controller::routing_states() const {
  routing::rollout_states out;
  for (const auto& [name, m] : rollouts_) {
    if (m->hold_on_stable) {
      out[name] = routing::rollout_state{routing::rollout_state::mode::rolled_back, 0, {}, false};
      continue;
    }
    if (!m->record.canary_fingerprint.empty() && m->record.canary_fingerprint != m->fingerprint) {
      // A reload brought a new canary and its restart could not be persisted
      // in reconfigure(): the record still describes the old canary (say
      // Succeeded: everyone on it). Route as a fresh rollout would until a
      // tick manages the restart, never the old share on the new build.
      out[name] = rollout::to_routing_state(m->machine.initial(m->fingerprint, clock_.wall()));
      continue;
    }
    out[name] = rollout::to_routing_state(m->record);
  }
  return out;
}

void controller::run() {
  timer_ = std::make_unique<net::steady_timer>(ctx_);
  asio::co_spawn(ctx_, tick_loop(), asio::detached);
}

void controller::stop() {
  stopped_ = true;
  if (timer_) {
    timer_->cancel();
  }
  // A rollback applied while the store refused writes lives only in this
  // process: one last attempt before it exits, whatever the back-off says.
  for (auto& [name, m] : rollouts_) {
    m->next_retry = {};
  }
  retry_writes();
  for (const auto& [name, m] : rollouts_) {
    if (m->unpersisted) {
      log::error(
          "exiting with a rollout state the store never took: a restart resumes from the "
          "older stored state",
          {{"rollout", name}, {"phase", rollout::to_string(m->record.current)}});
    }
  }
}

awaitable<void> controller::tick_loop() {
  while (!stopped_) {
    timer_->expires_after(std::chrono::seconds(1));
    co_await timer_->async_wait(net::use_nothrow);
    if (stopped_) {
      break;
    }
    co_await tick_all();
  }
}

awaitable<void> controller::tick_all() {
  retry_writes();
  std::vector<managed*> all;
  for (auto& [name, m] : rollouts_) {
    all.push_back(m.get());
  }
  for (managed* m : all) {
    if (!m->removed) {
      co_await tick(*m);
    }
  }
  retired_.clear();
}

void controller::journal_rollback(const rollout::rollout_record& r) {
  if (journal_.empty() ||
      (r.current != rollout::phase::rolling_back && r.current != rollout::phase::failed)) {
    return;
  }
  const auto line = journal_line(r);
  if (journal_has(journal_, line)) {
    return;
  }
  std::ofstream out(journal_, std::ios::app);
  out << line << "\n";
  out.flush();
  if (!out) {
    log::error(
        "cannot write the rollback journal either: a restart before the store takes the "
        "rollback resumes from the older state",
        {{"rollout", r.name}, {"journal", journal_}});
  }
}

void controller::retry_writes() {
  bool released = false;
  for (auto& [name, m] : rollouts_) {
    if ((!m->unpersisted && !m->hold_on_stable) || clock_.steady() < m->next_retry) {
      continue;
    }
    const auto key = key_of(name);
    auto put = store_->put_if(key, rollout::to_json(m->record), m->rev);
    if (!put && put.err().code == store::store_errc::conflict) {
      // Ours is the state users are routed by: it wins over what the store has.
      if (auto got = store_->get(key)) {
        m->rev = got->rev;
        put = store_->put_if(key, rollout::to_json(m->record), m->rev);
      }
    }
    if (!put) {
      ++store_write_failures_;
      m->next_retry = clock_.steady() + m->retry_backoff;
      m->retry_backoff =
          std::min<std::chrono::seconds>(2 * m->retry_backoff, std::chrono::seconds(30));
      continue;
    }
    m->rev = *put;
    m->unpersisted = false;
    m->retry_backoff = std::chrono::seconds(1);
    log::info("rollout state stored again", {{"rollout", name}});
    if (m->hold_on_stable) {
      m->hold_on_stable = false;
      released = true;
    }
  }
  if (released && on_routing_change_) {
    on_routing_change_();
  }
}

rollout::interval_evidence controller::gather(managed& m, std::uint64_t now_s) {
  rollout::interval_evidence ev;
  const auto canary = metrics_.find_arm(m.cfg.name, m.cfg.canary);
  const auto compare = metrics_.find_arm(m.cfg.name, m.comparison_subset());
  const auto n = interval_seconds(m.cfg);
  // The step's own seconds only: none from before it began.
  const std::uint64_t first =
      std::max<std::uint64_t>(now_s + 1 - std::min<std::uint64_t>(n, now_s), m.step_epoch + 1);
  const auto own = first <= now_s ? static_cast<std::uint32_t>(now_s - first + 1) : 0u;
  metrics::window_stats cw;
  metrics::window_stats bw;
  if (canary && own > 0) {
    cw = metrics_.query(*canary, own, now_s);
  }
  if (compare && own > 0) {
    bw = metrics_.query(*compare, own, now_s);
  }
  ev.canary = {cw.requests, cw.errors, cw.classes[3]};
  ev.baseline = {bw.requests, bw.errors, bw.classes[3]};
  // Is the service used at all (over the whole interval, every arm)?
  for (const auto* subset : {&m.cfg.stable, &m.cfg.canary, &m.cfg.baseline}) {
    if (!subset->empty()) {
      if (const auto arm = metrics_.find_arm(m.cfg.name, *subset)) {
        ev.service_requests += metrics_.query(*arm, n, now_s).requests;
      }
    }
  }
  for (const auto& check : m.cfg.analysis.metrics) {
    rollout::metric_value v{check.name, std::nullopt, std::nullopt};
    if (!check.prometheus) {
      v.canary = builtin_value(check.name, cw, &bw);
      v.baseline = builtin_value(check.name, bw, &bw);
    }
    ev.metrics.push_back(std::move(v));
  }
  // Per-second evidence for the sequential test, from where the last tick
  // stopped, never from before the run began.
  const std::uint64_t from =
      std::max({m.fed_through + 1, now_s >= 119 ? now_s - 119 : 0, m.step_epoch + 1});
  for (std::uint64_t s = from; s <= now_s; ++s) {
    rollout::second_counts sc;
    if (canary && compare) {
      const auto c = metrics_.second(*canary, s);
      const auto b = metrics_.second(*compare, s);
      sc.canary = counts_of(c.counts);
      sc.baseline = counts_of(b.counts);
      if (c.counts.requests > 0 && b.counts.requests > 0) {
        sc.canary_latency = to_analysis(c.latency);
        sc.baseline_latency = to_analysis(b.latency);
      }
    }
    ev.seconds.push_back(std::move(sc));
  }
  m.fed_through = std::max(m.fed_through, now_s);
  return ev;
}

awaitable<std::optional<double>> controller::query_prometheus(config::prometheus_query q) {
  net::client_request req;
  req.url = q.address + "/api/v1/query?query=" + net::url_encode(q.query);
  req.timeout = std::chrono::seconds(5);
  const auto resp = co_await net::fetch(ctx_, req);
  if (!resp.completed || resp.status != 200) {
    log::warn(
        "prometheus query failed",
        {{"query", q.query}, {"error", resp.completed ? std::to_string(resp.status) : resp.error}});
    co_return std::nullopt;
  }
  const auto j = nlohmann::json::parse(resp.body, nullptr, false);
  if (j.is_discarded() || j.value("status", "") != "success" || !j.contains("data")) {
    co_return std::nullopt;
  }
  const auto& data = j["data"];
  const auto type = data.value("resultType", "");
  const nlohmann::json* value = nullptr;
  if (type == "scalar") {
    value = &data["result"];
  } else if (type == "vector" && data["result"].is_array() && data["result"].size() == 1) {
    value = &data["result"][0]["value"];
  }
  if (value == nullptr || !value->is_array() || value->size() != 2 || !(*value)[1].is_string()) {
    co_return std::nullopt;  // no sample (or several): no data
  }
  try {
    const double v = std::stod((*value)[1].get<std::string>());
    co_return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
  } catch (const std::exception&) {
    co_return std::nullopt;
  }
}

awaitable<void> controller::tick(managed& m) {
  if (m.ticking) {
    co_return;
  }
  m.ticking = true;
  const auto generation = m.generation;
  rollout::tick_input in;
  in.canary_fingerprint = m.fingerprint;
  in.webhooks = std::move(m.outcomes);
  m.outcomes.clear();
  const auto now = clock_.steady();
  if (now >= m.next_analysis) {
    m.next_analysis = now + m.cfg.analysis.interval;
    const auto gathered_for = step_of(m.record);
    auto ev = gather(m, metrics_second() - 1);
    // A copy: a reload while a query waits replaces m.cfg (and may change the metric count).
    const auto checks = m.cfg.analysis.metrics;
    for (std::size_t i = 0; i < checks.size(); ++i) {
      if (checks[i].prometheus) {
        const auto value = co_await query_prometheus(*checks[i].prometheus);
        if (m.removed || m.generation != generation || step_of(m.record) != gathered_for) {
          // The evidence was gathered for a configuration that is gone, or
          // for a step an operator's action (resume, retry) has since ended.
          m.outcomes.insert(m.outcomes.begin(), in.webhooks.begin(), in.webhooks.end());
          m.ticking = false;
          co_return;
        }
        ev.metrics[i].canary = value;
      }
    }
    in.interval = std::move(ev);
  }
  in.now = clock_.wall();
  in.steady = steady_ms();
  const auto given = in.webhooks;
  auto t = m.machine.tick(m.record, in);
  // The machine resolves a gate only when every webhook it asked has
  // answered, and answers arrive when they arrive: while the same ask is
  // still open, the answers already in stay for the next tick instead of
  // being dropped (which left a gate of two hooks answering in different
  // ticks waiting forever). A new ask makes them stale.
  const bool asked_again = std::any_of(t.effects.begin(), t.effects.end(), [](const auto& e) {
    const auto* call = std::get_if<rollout::call_webhook>(&e);
    return call != nullptr && call->gate && call->type != config::webhook_type::rollback;
  });
  if (t.next.pending_gate != rollout::gate::none && !asked_again) {
    for (const auto& o : given) {
      if (o.type != config::webhook_type::rollback) {  // a poll's answer is for one tick
        m.outcomes.insert(m.outcomes.begin(), o);
      }
    }
  }
  apply(m, std::move(t));
  m.ticking = false;
}

std::optional<store::store_errc> controller::write(managed& m,
                                                   const rollout::rollout_record& next) {
  auto put = store_->put_if(key_of(m.cfg.name), rollout::to_json(next), m.rev);
  if (put) {
    m.rev = *put;
    m.unpersisted = false;
    return std::nullopt;
  }
  ++store_write_failures_;
  return put.err().code;
}

bool controller::apply(managed& m, rollout::transition t) {
  if (promoted(t.next.current) && t.next.promoted_endpoints.empty()) {
    t.next.promoted_endpoints = m.canary_endpoints;
  }
  const bool persist = std::any_of(t.effects.begin(), t.effects.end(), [](const auto& e) {
    return std::holds_alternative<rollout::persist>(e);
  });
  const bool publish = std::any_of(t.effects.begin(), t.effects.end(), [](const auto& e) {
    return std::holds_alternative<rollout::publish_routing>(e);
  });
  // Toward the canary: stored first, so a crash never leaves users on a state
  // that was not saved. Toward stable (or sideways): applied first, whatever
  // the store does; a failed write is retried, backing off (retry_writes).
  const bool toward_canary =
      widens(rollout::to_routing_state(m.record), rollout::to_routing_state(t.next));
  if (persist && toward_canary) {
    if (const auto failed = write(m, t.next)) {
      log::error("cannot persist a rollout transition; it is not applied",
                 {{"rollout", m.cfg.name}, {"phase", rollout::to_string(t.next.current)}});
      if (*failed == store::store_errc::conflict) {
        // Another writer moved it: carry on from what the store has.
        if (auto got = store_->get(key_of(m.cfg.name))) {
          if (auto parsed = rollout::from_json(got->value)) {
            m.record = std::move(*parsed);
            rollout::rebase_steady(m.record, clock_.wall(), steady_ms());
            m.rev = got->rev;
          }
        }
      }
      return false;
    }
  }
  const bool written_first = persist && toward_canary;
  const auto steps_before = step_of(m.record);
  const bool phase_changed = t.next.current != m.record.current || t.next.step != m.record.step;
  const bool analysed = t.next.last_analysis.at != m.record.last_analysis.at;
  m.record = std::move(t.next);
  if (steps_before != step_of(m.record)) {
    // A new step or run: its evidence starts after this second.
    m.step_epoch = metrics_second();
    m.fed_through = std::max(m.fed_through, m.step_epoch);
  }
  if (publish && on_routing_change_ && !reconfiguring_) {
    on_routing_change_();
  }
  // While a write is pending, the retry loop stores the latest record (with its back-off).
  if (persist && !written_first && !m.unpersisted && write(m, m.record)) {
    if (!m.unpersisted) {
      log::error(
          "cannot persist a rollout transition; applied anyway (it sends nobody to the "
          "canary) and retried",
          {{"rollout", m.cfg.name}, {"phase", rollout::to_string(m.record.current)}});
    }
    m.unpersisted = true;
  }
  if (persist && m.unpersisted) {
    journal_rollback(m.record);
  }
  if (sink_ && analysed) {
    // The evidence of every verdict, as stored with the record.
    const auto stored = nlohmann::json::parse(rollout::to_json(m.record));
    sink_({{"type", "analysis"}, {"rollout", m.cfg.name}, {"analysis", stored["last_analysis"]}});
  }
  for (auto& effect : t.effects) {
    if (auto* line = std::get_if<rollout::log_line>(&effect)) {
      // Lines announcing a step go out after the step is published, so whoever
      // reads "Advance ... canary weight 5%" and sends a request sees that weight.
      if (line->warning) {
        log::warn(line->message, {{"rollout", m.cfg.name}});
      } else {
        log::info(line->message, {{"rollout", m.cfg.name}});
      }
      if (sink_) {
        sink_({{"type", "log"},
               {"rollout", m.cfg.name},
               {"level", line->warning ? "warn" : "info"},
               {"message", line->message}});
      }
    } else if (auto* inc = std::get_if<rollout::metric_increment>(&effect)) {
      std::string metric;
      std::string result_label;
      for (const auto& [k, v] : inc->labels) {
        if (k == "metric") {
          metric = v;
        } else if (k == "result") {
          result_label = v;
        }
      }
      checks_[{m.cfg.name, metric, result_label}] += inc->delta;
    } else if (auto* call = std::get_if<rollout::call_webhook>(&effect)) {
      call_webhook(m, std::move(*call));
    }
  }
  if (sink_ && (phase_changed || publish)) {
    sink_({{"type", "transition"},
           {"rollout", m.cfg.name},
           {"phase", rollout::to_string(m.record.current)},
           {"step", m.record.step},
           {"weight", format_share(m.record.weight)}});
  }
  return true;
}

void controller::call_webhook(managed& m, rollout::call_webhook call) {
  const std::string rollout_name = m.cfg.name;
  asio::co_spawn(
      ctx_,
      [this, rollout_name, call = std::move(call)]() -> awaitable<void> {
        std::string detail;
        bool ok = false;
        // A rollback poll is a question: "no" is the usual answer, not a failure to retry.
        const int attempts = call.type == config::webhook_type::rollback ? 1 : 3;
        for (int attempt = 0; attempt < attempts && !ok; ++attempt) {
          if (attempt > 0) {
            net::steady_timer pause(ctx_, std::chrono::milliseconds(250 << attempt));
            co_await pause.async_wait(net::use_nothrow);
          }
          net::client_request req;
          req.method = "POST";
          req.url = call.url;
          req.timeout = call.timeout;
          req.headers = {{"Content-Type", "application/json"}};
          req.body = call.payload;
          const auto resp = co_await net::fetch(ctx_, req);
          ok = resp.completed && resp.status >= 200 && resp.status < 300;
          detail = resp.completed ? "answered " + std::to_string(resp.status) : resp.error;
          if (resp.completed && !resp.body.empty()) {
            // What the hook said, for the reason and the events (first 1 KiB).
            detail += ": " + resp.body.substr(0, 1024);
          }
        }
        if (!ok && call.type != config::webhook_type::rollback) {
          log::warn("webhook failed", {{"rollout", rollout_name},
                                       {"webhook", call.name},
                                       {"url", call.url},
                                       {"error", detail}});
        }
        if (call.gate) {
          if (auto it = rollouts_.find(rollout_name); it != rollouts_.end()) {
            it->second->outcomes.push_back({call.name, ok, detail, call.type});
          }
        }
      },
      asio::detached);
}

result<nlohmann::json> controller::act(const std::string& name, rollout::action a) {
  auto it = rollouts_.find(name);
  if (it == rollouts_.end()) {
    return error{"rollout '" + name + "' is not driven by the controller (it has no steps)"};
  }
  auto& m = *it->second;
  auto t = m.machine.act(m.record, a, clock_.wall(), steady_ms());
  if (!t) {
    return t.err();
  }
  if (!apply(m, std::move(*t))) {
    return error{"the transition could not be persisted; see the log"};
  }
  return describe(name);
}

nlohmann::json controller::describe(const std::string& name) const {
  auto it = rollouts_.find(name);
  if (it == rollouts_.end()) {
    return nullptr;
  }
  const auto& m = *it->second;
  const auto& rec = m.record;
  const auto stored = nlohmann::json::parse(rollout::to_json(rec));
  nlohmann::json events = nlohmann::json::array();
  for (const auto& e : stored["events"]) {
    events.push_back({{"time", iso_time(e["at"].get<std::int64_t>())},
                      {"level", e["level"]},
                      {"message", e["message"]}});
  }
  const auto now_s = metrics_second() - 1;
  const auto n = interval_seconds(m.cfg);
  nlohmann::json canary_metrics;
  nlohmann::json baseline_metrics;
  if (const auto arm = metrics_.find_arm(m.cfg.name, m.cfg.canary)) {
    canary_metrics = arm_json(metrics_.query(*arm, n, now_s));
  }
  if (const auto arm = metrics_.find_arm(m.cfg.name, m.comparison_subset())) {
    baseline_metrics = arm_json(metrics_.query(*arm, n, now_s));
  }
  const auto state = routing_states().at(name);
  const double age = std::chrono::duration<double>(clock_.wall() - rec.run_started).count();
  nlohmann::json out = {{"name", m.cfg.name},
                        {"service", m.cfg.service},
                        {"managed", true},
                        {"phase", rollout::to_string(rec.current)},
                        // 1-based for people; 0 while no step has been applied yet.
                        {"step", rec.started ? rec.step + 1 : 0},
                        {"steps", m.cfg.steps.size()},
                        {"weight", format_share(state.weight)},
                        {"weight_ratio", state.weight / 10000.0},
                        {"joined_cohorts", state.joined_cohorts},
                        {"failed_checks", rec.failed_checks},
                        {"threshold", m.cfg.analysis.threshold},
                        {"control", m.cfg.baseline.empty() ? "stable" : "baseline"},
                        {"step_requests", rec.step_requests},
                        {"step_control_requests", rec.step_control_requests},
                        {"min_requests", m.cfg.analysis.min_requests},
                        {"completed_steps", stored["completed_steps"]},
                        {"reason", rec.reason},
                        {"age_seconds", age},
                        {"stable", m.cfg.stable},
                        {"canary", m.cfg.canary},
                        {"baseline", m.cfg.baseline},
                        {"state_stored", !m.unpersisted},
                        {"held_on_stable", m.hold_on_stable},
                        {"canary_metrics", canary_metrics},
                        {"baseline_metrics", baseline_metrics},
                        {"last_analysis", stored["last_analysis"]},
                        {"events", events}};
  if (promoted(rec.current) && !rec.promoted_endpoints.empty() &&
      m.stable_endpoints != rec.promoted_endpoints) {
    out["next_action"] = "promoted: point " + m.cfg.stable + " at " + rec.promoted_endpoints;
  }
  return out;
}

void controller::add_metrics(metrics::server_metrics& out) const {
  const auto states = routing_states();
  for (const auto& [name, m] : rollouts_) {
    out.rollouts.push_back(rollout_view_of(m->cfg, states.at(name),
                                           std::string(rollout::to_string(m->record.current)),
                                           m->record.step));
  }
  for (const auto& [labels, count] : checks_) {
    out.analysis_checks.push_back({std::get<0>(labels), std::get<1>(labels), std::get<2>(labels),
                                   static_cast<std::uint64_t>(count)});
  }
  out.store_write_failures = store_write_failures_;
}

}  // namespace cohort::server
