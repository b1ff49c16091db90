#include "server/gateway.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/log.hpp"
#include "net/listener.hpp"

namespace cohort::server {

namespace asio = net::asio;
using net::awaitable;
using net::use_nothrow;

struct gateway::worker {
  asio::io_context ctx{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{ctx.get_executor()};
  std::unique_ptr<proxy::worker_context> context;
  std::vector<std::unique_ptr<net::tcp::acceptor>> acceptors;
  std::thread thread;
};

namespace {

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

awaitable<void> accept_loop(net::tcp::acceptor& acceptor, proxy::worker_context& context,
                            const proxy::listener_info& listener) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
    if (ec) {
      if (!acceptor.is_open() || ec == asio::error::operation_aborted) {
        co_return;
      }
      // Out of descriptors and the like: back off instead of spinning.
      asio::steady_timer pause(context.io(), std::chrono::milliseconds(50));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    asio::co_spawn(context.io(), proxy::serve_h1(std::move(socket), context, listener),
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
  auto snap = routing::snapshot::build(*loaded, {});
  if (!snap) {
    for (const auto& d : snap.err()) {
      std::fprintf(stderr, "%s\n", d.to_string().c_str());
    }
    return nullptr;
  }
  std::unique_ptr<gateway> g(new gateway());
  g->config_path_ = config_path;
  g->config_text_ = std::move(*text);
  g->boot_config_ = std::move(*loaded);
  g->registry_.publish(std::move(*snap));
  return g;
}

gateway::~gateway() {
  for (auto& w : workers_) {
    w->guard.reset();
    w->ctx.stop();
    if (w->thread.joinable()) {
      w->thread.join();
    }
  }
}

int gateway::run() {
  // Signals first: a harness may signal as soon as the ports are announced.
  asio::signal_set signals(main_ctx_, SIGTERM, SIGINT, SIGHUP);
  std::function<void(const net::error_code&, int)> on_signal =
      [&](const net::error_code& ec, int sig) {
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
  unsigned count = gw.workers != 0 ? gw.workers : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < count; ++i) {
    auto w = std::make_unique<worker>();
    w->context = std::make_unique<proxy::worker_context>(w->ctx, registry_, i);
    workers_.push_back(std::move(w));
  }
  // Listeners: worker 0 binds (port 0 picks one), the others join the same port.
  for (const auto& l : gw.listeners) {
    auto info = std::make_unique<proxy::listener_info>();
    info->name = l.name;
    host_port address = l.address;
    for (auto& w : workers_) {
      auto acceptor = net::open_listener(w->ctx, address, true);
      if (!acceptor) {
        log::error("cannot open listener", {{"listener", l.name}, {"error", acceptor.err().message}});
        return 1;
      }
      address.port = acceptor->local_endpoint().port();
      w->acceptors.push_back(std::make_unique<net::tcp::acceptor>(std::move(*acceptor)));
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
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
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
  log::info("admin listening", {{"address", net::to_string(admin_->local_endpoint())}});

  for (auto& w : workers_) {
    w->thread = std::thread([ctx = &w->ctx] { ctx->run(); });
  }
  ready_.store(true);
  log::info("started", {{"workers", std::to_string(count), true}});
  main_ctx_.run();

  for (auto& w : workers_) {
    w->guard.reset();
    w->ctx.stop();
    w->thread.join();
  }
  log::info("stopped");
  return 0;
}

void gateway::begin_shutdown() {
  if (shutting_down_) {
    return;
  }
  shutting_down_ = true;
  ready_.store(false);
  log::info("draining", {{"timeout", format_duration(snapshot()->source().gateway.limits.drain_timeout)}});
  for (auto& w : workers_) {
    asio::post(w->ctx, [wp = w.get()] {
      for (auto& a : wp->acceptors) {
        net::error_code ec;
        a->close(ec);
      }
      wp->context->start_drain();
    });
  }
  drain_deadline_ = std::chrono::steady_clock::now() + snapshot()->source().gateway.limits.drain_timeout;
  drain_timer_ = std::make_unique<asio::steady_timer>(main_ctx_);
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
    auto snap = routing::snapshot::build(*loaded, states_);
    if (!snap) {
      out.errors = to_strings(snap.err());
    } else {
      registry_.publish(std::move(*snap));
      config_text_ = text;
      out.ok = true;
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

admin::response gateway::handle_admin(const admin::request& req) {
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
  return admin::json_error(404, "no such endpoint: " + req.path);
}

}  // namespace cohort::server
