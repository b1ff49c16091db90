#include "server/gateway.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "admin/dashboard_assets.hpp"
#include "common/log.hpp"
#include "common/monotonic.hpp"
#include "http/message.hpp"
#include "net/listener.hpp"
#include "net/mailbox.hpp"
#include "net/tls_context.hpp"
#include "proxy/serve_connection.hpp"
#include "routing/decision.hpp"
#include "routing/explain.hpp"

namespace cohort::server {

namespace asio = net::asio;
using net::awaitable;
using net::use_nothrow;

struct gateway::worker {
  // One thread runs each worker, so its scheduler and reactor take no locks
  // (a mutex lock and unlock per handler, ~500 instructions per request).
  // Other threads reach it only through the mailbox, stopping included.
  asio::io_context ctx{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE};
  asio::executor_work_guard<asio::io_context::executor_type> guard{ctx.get_executor()};
  net::mailbox mailbox{ctx};
  std::unique_ptr<proxy::worker_context> context;
  std::vector<std::unique_ptr<net::tcp_acceptor>> acceptors;
  std::thread thread;
};

namespace {

// The state a snapshot routes a rollout with: its published state, or the
// file's starting weight.
routing::rollout_state effective_state(const routing::snapshot& snap,
                                       const config::rollout_config& r) {
  if (auto it = snap.states().find(r.name); it != snap.states().end()) {
    return it->second;
  }
  routing::rollout_state state;
  state.weight = r.weight;
  return state;
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> to_strings(const config::diagnostics& diags) {
  std::vector<std::string> out;
  out.reserve(diags.size());
  for (const auto& d : diags) {
    out.push_back(d.to_string());
  }
  return out;
}

awaitable<void> accept_loop(net::tcp_acceptor& acceptor, proxy::worker_context& context,
                            const proxy::listener_info& listener) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
    if (ec) {
      if (!acceptor.is_open() || ec == asio::error::operation_aborted) {
        co_return;
      }
      // Out of descriptors and the like: back off instead of spinning.
      net::steady_timer pause(context.io(), std::chrono::milliseconds(50));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    asio::co_spawn(context.io(), proxy::serve_connection(std::move(socket), context, listener),
                   [](const std::exception_ptr& e) {
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         log::error("connection failed", {{"error", ex.what()}});
                       }
                     }
                   });
  }
}

// The TLS contexts of a configuration: certificate files are read now, so a
// missing or mismatched one rejects the configuration at its tls: block.
result<std::shared_ptr<const net::tls_contexts>, config::diagnostics> build_tls(
    const config::config& cfg) {
  const auto served = proxy::served_alpn();
  return net::build_tls_contexts(cfg, served);
}

bool same_listeners(const config::gateway_config& a, const config::gateway_config& b) {
  if (a.listeners.size() != b.listeners.size() || a.workers != b.workers) {
    return false;
  }
  for (std::size_t i = 0; i < a.listeners.size(); ++i) {
    if (a.listeners[i].name != b.listeners[i].name ||
        format_host_port(a.listeners[i].address) != format_host_port(b.listeners[i].address)) {
      return false;
    }
  }
  return true;
}

}  // namespace

config::diagnostics check_certificates(const config::config& cfg) {
  auto tls = build_tls(cfg);
  if (!tls) {
    return std::move(tls.err());
  }
  return {};
}

std::unique_ptr<gateway> gateway::create(const std::string& config_path) {
  auto text = read_file(config_path);
  if (!text) {
    std::fprintf(stderr, "%s:0:0: cannot read the configuration file\n", config_path.c_str());
    return nullptr;
  }
  auto loaded = config::load_config_text(*text, config_path);
  if (!loaded) {
    for (const auto& d : loaded.err()) {
      std::fprintf(stderr, "%s\n", d.to_string().c_str());
    }
    return nullptr;
  }
  std::unique_ptr<gateway> g(new gateway());
  g->config_path_ = config_path;
  g->config_text_ = std::move(*text);
  g->boot_config_ = std::move(*loaded);
  const unsigned configured = g->boot_config_.gateway.workers;
  g->worker_count_ =
      configured != 0 ? configured : std::max(1u, std::thread::hardware_concurrency());
  g->metrics_ = std::make_unique<metrics::registry>(g->worker_count_);
  // Rollout state is restored before anything listens: a restart never sends
  // canary users back to stable.
  gateway* self = g.get();
  g->controller_ =
      std::make_unique<controller>(g->main_ctx_, *g->metrics_, [self] { self->republish(); });
  if (auto started = g->controller_->start(g->boot_config_); !started) {
    std::fprintf(stderr, "%s: %s\n", config_path.c_str(), started.err().message.c_str());
    return nullptr;
  }
  auto snap = routing::snapshot::build(g->boot_config_, g->current_states());
  if (!snap) {
    for (const auto& d : snap.err()) {
      std::fprintf(stderr, "%s\n", d.to_string().c_str());
    }
    return nullptr;
  }
  auto tls = build_tls(g->boot_config_);
  if (!tls) {
    for (const auto& d : tls.err()) {
      std::fprintf(stderr, "%s\n", d.to_string().c_str());
    }
    return nullptr;
  }
  g->tls_ = std::move(*tls);
  g->publish(std::move(*snap));
  g->health_ = std::make_unique<upstream::health_checker>(g->main_ctx_, g->upstream_shared_);
  g->health_->configure(g->boot_config_);
  return g;
}

routing::rollout_states gateway::current_states() const {
  routing::rollout_states states = controller_->routing_states();
  for (const auto& [name, state] : manual_states_) {
    if (!controller_->manages(name)) {
      states[name] = state;
    }
  }
  return states;
}

void gateway::republish() {
  auto snap = routing::snapshot::build(snapshot()->source(), current_states());
  if (!snap) {
    for (const auto& e : to_strings(snap.err())) {
      log::error("cannot publish rollout state", {{"error", e}});
    }
    return;
  }
  publish(std::move(*snap));
}

void gateway::stop_workers() {
  for (auto& w : workers_) {
    if (w->thread.joinable()) {
      w->mailbox.post([wp = w.get()] {
        wp->guard.reset();
        wp->ctx.stop();
      });
      w->thread.join();
    }
  }
}

gateway::~gateway() {
  stop_workers();
}

int gateway::run() {
  // Signals first: a harness may signal as soon as the ports are announced.
  asio::signal_set signals(main_ctx_, SIGTERM, SIGINT, SIGHUP);
  std::function<void(const net::error_code&, int)> on_signal = [&](const net::error_code& ec,
                                                                   int sig) {
    if (ec) {
      return;
    }
    if (sig == SIGHUP) {
      reload_from_file();
    } else {
      begin_shutdown();
    }
    if (!shutting_down_) {
      signals.async_wait(on_signal);
    }
  };
  signals.async_wait(on_signal);

  const auto& gw = boot_config_.gateway;
  const unsigned count = worker_count_;
  for (unsigned i = 0; i < count; ++i) {
    auto w = std::make_unique<worker>();
    w->context = std::make_unique<proxy::worker_context>(w->ctx, registry_, i, metrics_->worker(i),
                                                         &upstream_shared_);
    workers_.push_back(std::move(w));
  }
  // Listeners: worker 0 binds (port 0 picks one), the others join the same port.
  for (const auto& l : gw.listeners) {
    auto info = std::make_unique<proxy::listener_info>();
    info->name = l.name;
    info->metrics_id = metrics_->intern_listener(l.name);
    host_port address = l.address;
    for (auto& w : workers_) {
      auto acceptor = net::open_listener(w->ctx, address, true);
      if (!acceptor) {
        log::error("cannot open listener",
                   {{"listener", l.name}, {"error", acceptor.err().message}});
        return 1;
      }
      address.port = acceptor->local_endpoint().port();
      w->acceptors.push_back(std::make_unique<net::tcp_acceptor>(std::move(*acceptor)));
      asio::co_spawn(w->ctx, accept_loop(*w->acceptors.back(), *w->context, *info), asio::detached);
    }
    log::info("listening", {{"listener", l.name}, {"address", format_host_port(address)}});
    listener_infos_.push_back(std::move(info));
  }

  std::string token;
  if (!boot_config_.admin.token_file.empty()) {
    auto t = read_file(boot_config_.admin.token_file);
    if (!t) {
      log::error("cannot read admin token file", {{"path", boot_config_.admin.token_file}});
      return 1;
    }
    token = *t;
    while (!token.empty() &&
           (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
      token.pop_back();
    }
  }
  admin_ = std::make_unique<admin::server>(
      main_ctx_, [this](const admin::request& r) { return handle_admin(r); }, token);
  if (auto opened = admin_->open(boot_config_.admin.address); !opened) {
    log::error("cannot open admin listener", {{"error", opened.err().message}});
    return 1;
  }
  admin_->start();
  controller_->set_event_sink(
      [this](const nlohmann::json& e) { admin_->broadcast(e.value("type", "rollout"), e.dump()); });
  stats_timer_ = std::make_unique<net::steady_timer>(main_ctx_);
  asio::co_spawn(main_ctx_, stats_loop(), asio::detached);
  log::info("admin listening", {{"address", net::to_string(admin_->local_endpoint())}});

  for (auto& w : workers_) {
    w->mailbox.start();
    w->thread = std::thread([ctx = &w->ctx] { ctx->run(); });
  }
  controller_->run();
  ready_.store(true);
  log::info("started", {{"workers", std::to_string(count), true}});
  main_ctx_.run();

  stop_workers();
  log::info("stopped");
  return 0;
}

void gateway::begin_shutdown() {
  if (shutting_down_) {
    return;
  }
  shutting_down_ = true;
  ready_.store(false);
  controller_->stop();
  health_->stop();
  if (stats_timer_) {
    stats_timer_->cancel();
  }
  log::info("draining",
            {{"timeout", format_duration(snapshot()->source().gateway.limits.drain_timeout)}});
  for (auto& w : workers_) {
    w->mailbox.post([wp = w.get()] {
      for (auto& a : wp->acceptors) {
        net::error_code ec;
        a->close(ec);
      }
      wp->context->start_drain();
    });
  }
  drain_deadline_ =
      std::chrono::steady_clock::now() + snapshot()->source().gateway.limits.drain_timeout;
  drain_timer_ = std::make_unique<net::steady_timer>(main_ctx_);
  check_drained();
}

void gateway::check_drained() {
  std::size_t open = 0;
  for (const auto& w : workers_) {
    open += w->context->connection_count();
  }
  if (open == 0 || std::chrono::steady_clock::now() >= drain_deadline_) {
    if (open != 0) {
      log::warn("drain deadline passed", {{"open_connections", std::to_string(open), true}});
    }
    admin_->stop();
    main_ctx_.stop();
    return;
  }
  drain_timer_->expires_after(std::chrono::milliseconds(20));
  drain_timer_->async_wait([this](const net::error_code& ec) {
    if (!ec) {
      check_drained();
    }
  });
}

reload_outcome gateway::reload_from_file() {
  auto text = read_file(config_path_);
  if (!text) {
    ++reloads_rejected_;
    reload_outcome out{false, {config_path_ + ":0:0: cannot read the configuration file"}};
    log::warn("configuration rejected", {{"error", out.errors.front()}});
    return out;
  }
  return apply_config(*text, config_path_);
}

reload_outcome gateway::apply_config(const std::string& text, const std::string& source_name) {
  reload_outcome out;
  auto loaded = config::load_config_text(text, source_name);
  if (!loaded) {
    out.errors = to_strings(loaded.err());
  } else {
    if (!same_listeners(loaded->gateway, boot_config_.gateway) ||
        format_host_port(loaded->admin.address) != format_host_port(boot_config_.admin.address)) {
      log::warn("listener, admin and worker changes take effect at the next restart");
    }
    auto snap = routing::snapshot::build(*loaded, current_states());
    if (!snap) {
      out.errors = to_strings(snap.err());
    } else if (auto tls = build_tls(*loaded); !tls) {
      // Certificates are read before anything changes: a bad one keeps the old state serving.
      out.errors = to_strings(tls.err());
    } else if (const auto refused = controller_->check(*loaded); !refused.empty()) {
      out.errors = to_strings(refused);
    } else {
      controller_->reconfigure(*loaded);
      snap = routing::snapshot::build(*loaded, current_states());
      if (!snap) {
        out.errors = to_strings(snap.err());
      } else {
        tls_ = std::move(*tls);
        publish(std::move(*snap));
        health_->configure(*loaded);
        config_text_ = text;
        out.ok = true;
        // HTTP/2 clients keep connections for hours: GOAWAY makes them reconnect.
        for (auto& w : workers_) {
          w->mailbox.post([wp = w.get()] { wp->context->notify_reload(); });
        }
      }
    }
  }
  if (out.ok) {
    ++reloads_ok_;
    log::info("configuration applied", {{"source", source_name}});
  } else {
    ++reloads_rejected_;
    for (const auto& e : out.errors) {
      log::warn("configuration rejected", {{"source", source_name}, {"error", e}});
    }
  }
  return out;
}

void gateway::publish(std::shared_ptr<const routing::snapshot> snap) {
  metrics::label_model model;
  const auto& cfg = snap->source();
  const auto service_index = [&](const std::string& name) -> std::uint32_t {
    for (std::uint32_t i = 0; i < cfg.services.size(); ++i) {
      if (cfg.services[i].name == name) {
        return i;
      }
    }
    return 0;  // validation guarantees the name exists
  };
  for (const auto& svc : snap->services()) {
    auto& m = model.services.emplace_back();
    m.name = svc.name;
    for (const auto& sub : svc.subsets) {
      m.subsets.push_back(sub.name);
    }
  }
  for (const auto& r : cfg.routes) {
    model.routes.push_back({r.name, service_index(r.service)});
  }
  for (const auto& r : cfg.rollouts) {
    const auto svc = service_index(r.service);
    std::uint32_t stable = 0;
    const auto& names = model.services[svc].subsets;
    for (std::uint32_t k = 0; k < names.size(); ++k) {
      if (names[k] == r.stable) {
        stable = k;
      }
    }
    model.rollouts.push_back({r.name, svc, stable});
  }
  auto state = std::make_shared<proxy::published_state>();
  state->series = metrics_->intern(model);
  state->snapshot = std::move(snap);
  state->tls = tls_;
  registry_.publish(std::move(state));
  // Workers hear of it now, not at their next request: open tunnels may
  // have to close (a rollback), and a rollback drains upstream connections.
  for (auto& w : workers_) {
    w->mailbox.post([context = w->context.get()] { context->on_published(); });
  }
}

awaitable<void> gateway::stats_loop() {
  constexpr std::size_t history_seconds = 600;
  while (!shutting_down_) {
    stats_timer_->expires_after(std::chrono::seconds(1));
    co_await stats_timer_->async_wait(use_nothrow);
    if (shutting_down_) {
      break;
    }
    // Every second exactly once, even when a tick comes late; a second is
    // sampled one second after it ended, so a worker preempted between reading
    // the clock and recording still lands in it before it is read.
    const auto last = monotonic_seconds() - 2;
    if (stats_through_ == 0 || last - stats_through_ > history_seconds) {
      stats_through_ = last - 1;
    }
    for (auto second = stats_through_ + 1; second <= last; ++second) {
      auto sample = stats_sample(second);
      if (admin_->subscribers() > 0) {
        admin_->broadcast("stats", sample.dump());
      }
      stats_history_.push_back(std::move(sample));
      if (stats_history_.size() > history_seconds) {
        stats_history_.pop_front();
      }
    }
    stats_through_ = last;
  }
}

nlohmann::json gateway::stats_sample(std::uint64_t second) {
  const auto now_s = second;
  const auto snap = snapshot();
  nlohmann::json rollouts = nlohmann::json::array();
  for (const auto& r : snap->source().rollouts) {
    nlohmann::json arms = nlohmann::json::object();
    std::uint64_t total = 0;
    std::uint64_t canary = 0;
    for (const auto* subset : {&r.stable, &r.canary, &r.baseline}) {
      if (subset->empty()) {
        continue;
      }
      const auto arm = metrics_->find_arm(r.name, *subset);
      if (!arm) {
        continue;
      }
      const auto w = metrics_->query(*arm, 1, now_s);
      nlohmann::json a = {{"requests", w.requests}, {"errors", w.errors}};
      if (w.requests > 0) {
        a["success_rate"] = w.success_rate;
        a["p50_ms"] = w.p50 * 1000;
        a["p99_ms"] = w.p99 * 1000;
      }
      arms[*subset] = a;
      total += w.requests;
      if (subset == &r.canary) {
        canary = w.requests;
      }
    }
    const double target =
        routing::shares_of(effective_state(*snap, r), !r.baseline.empty()).canary / 10000.0;
    nlohmann::json entry = {
        {"name", r.name}, {"canary_subset", r.canary}, {"target_share", target}, {"arms", arms}};
    if (total > 0) {
      entry["realised_share"] = static_cast<double>(canary) / static_cast<double>(total);
    }
    rollouts.push_back(std::move(entry));
  }
  // Wall-clock time of the end of that second, for charts.
  const auto lag = std::chrono::seconds(monotonic_seconds() - second);
  const auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                        (std::chrono::system_clock::now() - lag).time_since_epoch())
                        .count();
  return {{"time", wall}, {"second", second}, {"rollouts", rollouts}};
}

admin::response gateway::handle_window(const admin::request& req) {
  // ?rollout=NAME&subset=NAME&seconds=N: the controller's view of one arm.
  std::map<std::string, std::string, std::less<>> params;
  std::string_view q = req.query;
  while (!q.empty()) {
    const auto amp = q.find('&');
    const auto pair = q.substr(0, amp);
    const auto eq = pair.find('=');
    params[std::string(pair.substr(0, eq))] =
        eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1));
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
  }
  const auto arm = metrics_->find_arm(params["rollout"], params["subset"]);
  if (!arm) {
    return admin::json_error(
        404, "no window for rollout '" + params["rollout"] + "' subset '" + params["subset"] + "'");
  }
  std::uint32_t seconds = 30;
  if (!params["seconds"].empty()) {
    const auto n = std::strtoul(params["seconds"].c_str(), nullptr, 10);
    if (n < 1 || n > 120) {
      return admin::json_error(400, "seconds must be from 1 to 120");
    }
    seconds = static_cast<std::uint32_t>(n);
  }
  const auto w = metrics_->query(*arm, seconds, monotonic_seconds() - 1);
  nlohmann::json j = {{"first_second", w.first_second},
                      {"last_second", w.last_second},
                      {"requests", w.requests},
                      {"errors", w.errors},
                      {"classes", w.classes}};
  if (w.requests > 0) {
    j["success_rate"] = w.success_rate;
    j["p50"] = w.p50;
    j["p90"] = w.p90;
    j["p99"] = w.p99;
    j["p999"] = w.p999;
  }
  return {200, "application/json", j.dump() + "\n"};
}

admin::response gateway::handle_metrics() {
  metrics::server_metrics server;
  server.reloads_ok = reloads_ok_;
  server.reloads_rejected = reloads_rejected_;
  controller_->add_metrics(server);
  for (auto& e : health_->view()) {
    server.endpoints.push_back(
        {std::move(e.service), std::move(e.subset), std::move(e.endpoint), e.healthy});
  }
  const auto snap = snapshot();
  for (const auto& r : snap->source().rollouts) {
    if (controller_->manages(r.name)) {
      continue;
    }
    // A fixed split has no controller phase: it is always progressing.
    server.rollouts.push_back(rollout_view_of(r, effective_state(*snap, r), "Progressing", 0));
  }
  return {200, std::string(metrics::exposition_content_type),
          metrics::render_prometheus(metrics_->collect(), server)};
}

admin::response gateway::handle_admin(const admin::request& req) {
  if (req.path == "/metrics") {
    return handle_metrics();
  }
  if (req.path == "/healthz") {
    return {200, "text/plain; charset=utf-8", "ok\n"};
  }
  if (req.path == "/readyz") {
    return ready() ? admin::response{200, "text/plain; charset=utf-8", "ready\n"}
                   : admin::response{503, "text/plain; charset=utf-8", "not ready\n"};
  }
  if (req.path == "/api/v1/config") {
    if (req.method == "GET") {
      return {200, "application/yaml", config_text_};
    }
    if (req.method == "POST" || req.method == "PUT") {
      auto outcome = apply_config(req.body, "api");
      if (!outcome.ok) {
        return admin::json_error(400, "invalid configuration", outcome.errors);
      }
      return {200, "application/json", "{\"status\":\"applied\"}\n"};
    }
    return admin::json_error(405, "use GET or POST");
  }
  if (req.path == "/api/v1/events") {
    admin::response r;
    r.event_stream = true;
    return r;
  }
  if (req.path == "/api/v1/stats") {
    nlohmann::json history = nlohmann::json::array();
    for (const auto& s : stats_history_) {
      history.push_back(s);
    }
    return {200, "application/json", nlohmann::json{{"samples", history}}.dump() + "\n"};
  }
  if (req.path == "/api/v1/windows" && req.method == "GET") {
    return handle_window(req);
  }
  if (req.path == "/api/v1/explain") {
    if (req.method != "POST") {
      return admin::json_error(405, "use POST");
    }
    return handle_explain(req);
  }
  if (req.path == "/api/v1/rollouts" && req.method == "GET") {
    nlohmann::json list = nlohmann::json::array();
    const auto snap = snapshot();
    for (const auto& r : snap->source().rollouts) {
      list.push_back(controller_->manages(r.name) ? controller_->describe(r.name)
                                                  : rollout_json(*snap, r));
    }
    return {200, "application/json", nlohmann::json{{"rollouts", list}}.dump() + "\n"};
  }
  constexpr std::string_view rollouts_prefix = "/api/v1/rollouts/";
  if (req.path.starts_with(rollouts_prefix)) {
    std::string_view rest = std::string_view(req.path).substr(rollouts_prefix.size());
    const auto slash = rest.find('/');
    const std::string name(rest.substr(0, slash));
    const std::string_view action = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
    const auto snap = snapshot();
    const config::rollout_config* rollout = nullptr;
    for (const auto& r : snap->source().rollouts) {
      if (r.name == name) {
        rollout = &r;
      }
    }
    if (rollout == nullptr) {
      return admin::json_error(404, "no rollout named '" + name + "'");
    }
    const bool managed = controller_->manages(name);
    if (action.empty() && req.method == "GET") {
      const auto j = managed ? controller_->describe(name) : rollout_json(*snap, *rollout);
      return {200, "application/json", j.dump() + "\n"};
    }
    if (action == "weight" && req.method == "POST") {
      if (managed) {
        return admin::json_error(409, "rollout '" + name +
                                          "' is driven by the controller through its steps; use "
                                          "promote, pause, resume or abort");
      }
      return handle_set_weight(*rollout, req.body);
    }
    static const std::map<std::string_view, rollout::action> actions = {
        {"promote", rollout::action::promote},
        {"abort", rollout::action::abort},
        {"pause", rollout::action::pause},
        {"resume", rollout::action::resume},
        {"retry", rollout::action::retry}};
    if (auto it = actions.find(action); it != actions.end()) {
      if (req.method != "POST") {
        return admin::json_error(405, "use POST");
      }
      auto done = controller_->act(name, it->second);
      if (!done) {
        return admin::json_error(managed ? 409 : 400, done.err().message);
      }
      return {200, "application/json", done->dump() + "\n"};
    }
    return admin::json_error(404, "no such rollout action: " + std::string(action));
  }
  if (req.method == "GET") {
    if (const auto* a = admin::find_asset(req.path)) {
      return admin::asset_response(*a);  // the dashboard
    }
  }
  return admin::json_error(404, "no such endpoint: " + req.path);
}

nlohmann::json gateway::rollout_json(const routing::snapshot& snap,
                                     const config::rollout_config& r) const {
  const auto state = effective_state(snap, r);
  const char* mode = state.phase == routing::rollout_state::mode::promoted      ? "promoted"
                     : state.phase == routing::rollout_state::mode::rolled_back ? "rolled_back"
                                                                                : "progressing";
  const auto shares = routing::shares_of(state, !r.baseline.empty());
  return {{"name", r.name},
          {"service", r.service},
          {"mode", mode},
          {"weight", format_share(state.weight)},
          {"weight_ratio", state.weight / 10000.0},
          {"baseline_weight", format_share(shares.baseline)},
          {"joined_cohorts", state.joined_cohorts},
          {"stable", r.stable},
          {"canary", r.canary},
          {"baseline", r.baseline}};
}

admin::response gateway::handle_set_weight(const config::rollout_config& rollout,
                                           const std::string& body) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("weight") || !j["weight"].is_string()) {
    return admin::json_error(400, R"(expected {"weight": "5%"})");
  }
  const auto weight = parse_share(j["weight"].get<std::string>());
  if (!weight || *weight > full_share) {
    return admin::json_error(400,
                             "weight must be a share from 0% to 100% in 0.01% steps, such as "
                             "\"5%\" or \"0.25%\"");
  }
  auto manual = manual_states_;
  manual[rollout.name].weight = *weight;
  auto states = current_states();
  states[rollout.name] = manual[rollout.name];
  auto snap = routing::snapshot::build(snapshot()->source(), states);
  if (!snap) {
    return admin::json_error(409, "the new state does not fit the configuration",
                             to_strings(snap.err()));
  }
  manual_states_ = std::move(manual);
  publish(std::move(*snap));
  log::info("rollout weight set", {{"rollout", rollout.name}, {"weight", format_share(*weight)}});
  return {200, "application/json", rollout_json(*snapshot(), rollout).dump() + "\n"};
}

admin::response gateway::handle_explain(const admin::request& req) {
  const auto j = nlohmann::json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return admin::json_error(400, R"(expected {"method": "GET", "path": "/x", "headers": {...}})");
  }
  const std::string method = j.value("method", std::string("GET"));
  const std::string target = j.value("path", std::string("/"));
  const std::string client_ip = j.value("client_ip", std::string("127.0.0.1"));
  std::vector<std::pair<std::string, std::string>> owned;
  if (j.contains("headers")) {
    if (!j["headers"].is_object()) {
      return admin::json_error(400, "headers must be an object of name: value");
    }
    for (const auto& [name, value] : j["headers"].items()) {
      if (!value.is_string()) {
        return admin::json_error(400, "header '" + name + "' must have a string value");
      }
      owned.emplace_back(name, value.get<std::string>());
    }
  }
  std::vector<header_field> fields;
  std::string_view host;
  for (const auto& [name, value] : owned) {
    fields.push_back({name, value});
    if (http::iequals(name, "host")) {
      host = value;
    }
  }
  const auto q = target.find('?');
  const std::string path = target.substr(0, q);
  const std::string query = q == std::string::npos ? "" : target.substr(q + 1);
  const routing::request_view view{method, path, query, host, fields, client_ip};
  const auto snap = snapshot();
  const auto e = routing::explain(view, *snap, 0);
  nlohmann::json out = {{"routed", e.routed},
                        {"route", e.route},
                        {"service", e.service},
                        {"subset", e.subset},
                        {"rollout", e.rollout},
                        {"reason", e.reason},
                        {"bucket", e.bucket ? nlohmann::json(*e.bucket) : nlohmann::json(nullptr)},
                        {"weight", format_share(e.weight)}};
  if (e.has_key) {
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(e.key_hash));
    out["user_key_hash"] = hash;
  }
  if (!e.new_anonymous_id.empty()) {
    out["new_anonymous_id"] = e.new_anonymous_id;
  }
  return {e.routed ? 200u : 404u, "application/json", out.dump() + "\n"};
}

}  // namespace cohort::server
