#pragma once
// Active health checks: one loop per checked endpoint on the main thread's
// io_context, a GET of the service's health_check.path every interval with
// the async net::http_client. Verdicts go to the endpoint's flag in the
// shared_table (an atomic the workers' pools read); transitions are logged.
//
// An endpoint ("host:port") is checked once even when several subsets or
// services list it: with the settings of the first service in the file that
// has a health_check, and its verdict applies wherever it is listed.

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "net/asio.hpp"
#include "upstream/health.hpp"
#include "upstream/shared_table.hpp"

namespace cohort::upstream {

// One endpoint as a subset lists it, for cohort_upstream_endpoint_healthy.
struct endpoint_health {
  std::string service;
  std::string subset;
  std::string endpoint;
  bool healthy = true;
};

class health_checker {
 public:
  health_checker(net::asio::io_context& ctx, shared_table& shared) : ctx_(ctx), shared_(shared) {}
  ~health_checker();
  health_checker(const health_checker&) = delete;
  health_checker& operator=(const health_checker&) = delete;

  // Starts, keeps or stops checks to match cfg. An endpoint that stays checked
  // keeps its state (and its running loop; new settings apply from its next
  // check); one no longer checked is marked healthy again. Main thread only.
  void configure(const config::config& cfg);
  void stop();

  // Every checked endpoint of every subset, in file order. Main thread only.
  std::vector<endpoint_health> view() const;

 private:
  struct target {
    std::string key;                                          // "host:port"
    std::vector<std::pair<std::string, std::string>> owners;  // (service, subset) listing it
    config::health_check_config policy;
    health_tracker tracker;
    std::atomic<bool>* flag = nullptr;
    std::unique_ptr<net::steady_timer> timer;
    bool stopped = false;
  };
  static net::awaitable<void> run(net::asio::io_context& ctx, std::shared_ptr<target> t);

  net::asio::io_context& ctx_;
  shared_table& shared_;
  std::map<std::string, std::shared_ptr<target>> targets_;
  std::vector<std::string> order_;  // keys in file order, for view()
};

}  // namespace cohort::upstream
