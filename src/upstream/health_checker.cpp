#include "upstream/health_checker.hpp"

#include <algorithm>

#include "common/log.hpp"
#include "net/http_client.hpp"

namespace cohort::upstream {

namespace asio = net::asio;

namespace {

std::string owners_text(const std::vector<std::pair<std::string, std::string>>& owners) {
  std::string out;
  for (const auto& [service, subset] : owners) {
    if (!out.empty()) {
      out += ", ";
    }
    out += service;
    out += '/';
    out += subset;
  }
  return out;
}

}  // namespace

health_checker::~health_checker() {
  stop();
}

void health_checker::stop() {
  for (auto& [key, t] : targets_) {
    t->stopped = true;
    t->timer->cancel();
  }
  targets_.clear();
  order_.clear();
}

void health_checker::configure(const config::config& cfg) {
  std::map<std::string, std::shared_ptr<target>> next;
  std::vector<std::string> order;
  for (const auto& svc : cfg.services) {
    for (const auto& sub : svc.subsets) {
      for (const auto& address : sub.endpoints) {
        const std::string key = format_host_port(address);
        auto found = next.find(key);
        if (found == next.end()) {
          if (!svc.health_check) {
            continue;
          }
          std::shared_ptr<target> t;
          if (auto old = targets_.find(key); old != targets_.end()) {
            t = old->second;  // keeps its state and its loop
            t->owners.clear();
          } else {
            t = std::make_shared<target>();
            t->key = key;
            t->flag = shared_.health_flag(key);
            t->timer = std::make_unique<net::steady_timer>(ctx_);
          }
          t->policy = *svc.health_check;
          found = next.emplace(key, std::move(t)).first;
          order.push_back(key);
        }
        auto& owners = found->second->owners;
        const std::pair<std::string, std::string> owner{svc.name, sub.name};
        if (std::find(owners.begin(), owners.end(), owner) == owners.end()) {
          owners.push_back(owner);
        }
      }
    }
  }
  for (auto& [key, t] : targets_) {
    if (next.count(key) == 0) {
      // No longer checked: nothing may keep it out of rotation.
      t->stopped = true;
      t->timer->cancel();
      t->flag->store(true, std::memory_order_relaxed);
    }
  }
  for (auto& [key, t] : next) {
    if (targets_.count(key) == 0) {
      asio::co_spawn(ctx_, run(ctx_, t), asio::detached);
    }
  }
  targets_ = std::move(next);
  order_ = std::move(order);
}

std::vector<endpoint_health> health_checker::view() const {
  std::vector<endpoint_health> out;
  for (const auto& key : order_) {
    const auto& t = *targets_.at(key);
    for (const auto& [service, subset] : t.owners) {
      out.push_back({service, subset, key, t.tracker.healthy()});
    }
  }
  return out;
}

net::awaitable<void> health_checker::run(asio::io_context& ctx, std::shared_ptr<target> t) {
  // The first check goes out at once: a restart learns the truth within one timeout.
  bool first = true;
  while (!t->stopped) {
    if (!first) {
      t->timer->expires_after(t->policy.interval);
      co_await t->timer->async_wait(net::use_nothrow);
      if (t->stopped) {
        break;
      }
    }
    first = false;
    net::client_request req;
    req.url = "http://" + t->key + t->policy.path;
    req.timeout = t->policy.timeout;
    req.headers.emplace_back("Accept", "*/*");
    const auto resp = co_await net::fetch(ctx, std::move(req));
    if (t->stopped) {
      break;
    }
    const bool passed = resp.completed && status_expected(resp.status, t->policy.expected_statuses);
    const auto change =
        t->tracker.record(passed, t->policy.healthy_threshold, t->policy.unhealthy_threshold);
    if (change == health_change::none) {
      continue;
    }
    const bool healthy = change == health_change::became_healthy;
    t->flag->store(healthy, std::memory_order_relaxed);
    std::string line = "endpoint " + t->key + " of " + owners_text(t->owners);
    if (healthy) {
      line += " is healthy: " + std::to_string(t->tracker.successes()) + " passed checks";
      log::info(line, {{"endpoint", t->key}, {"healthy", "true", true}});
    } else {
      const std::string last =
          resp.completed ? "status " + std::to_string(resp.status) : resp.error;
      line += " is unhealthy: " + std::to_string(t->tracker.failures()) +
              " failed checks, last: " + last;
      log::warn(line, {{"endpoint", t->key}, {"healthy", "false", true}});
    }
  }
}

}  // namespace cohort::upstream
