#pragma once
// The running gateway: workers with their listeners, the admin listener, the
// current configuration and its reloads, signals and the drain on shutdown.

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin/admin_server.hpp"
#include "config/loader.hpp"
#include "metrics/exposition.hpp"
#include "metrics/registry.hpp"
#include "net/asio.hpp"
#include "proxy/h1_session.hpp"
#include "proxy/snapshot_registry.hpp"
#include "proxy/worker_context.hpp"
#include "routing/snapshot.hpp"
#include "server/controller.hpp"
#include "upstream/health_checker.hpp"
#include "upstream/shared_table.hpp"

namespace cohort::server {

// Reads and checks every certificate and key file the configuration names,
// as serving or a reload would: one diagnostic per bad tls: block.
config::diagnostics check_certificates(const config::config& cfg);

struct reload_outcome {
  bool ok = false;
  std::vector<std::string> errors;  // "file:line:column: message"
};

class gateway {
 public:
  // Loads and validates the file; nullptr (after printing the errors) when it is invalid.
  static std::unique_ptr<gateway> create(const std::string& config_path);
  ~gateway();

  // Opens the listeners and runs until SIGTERM/SIGINT and the drain finish.
  // Returns the process exit code.
  int run();

  // Replaces the configuration (SIGHUP: from the file; admin API: from a body).
  reload_outcome apply_config(const std::string& text, const std::string& source_name);
  reload_outcome reload_from_file();

  const std::string& config_text() const { return config_text_; }
  std::shared_ptr<const routing::snapshot> snapshot() const { return registry_.load()->snapshot; }
  bool ready() const { return ready_.load(); }

 private:
  struct worker;

  gateway() = default;
  admin::response handle_admin(const admin::request& req);
  admin::response handle_explain(const admin::request& req);
  admin::response handle_set_weight(const config::rollout_config& rollout, const std::string& body);
  nlohmann::json rollout_json(const routing::snapshot& snap, const config::rollout_config& r) const;
  // Interns the snapshot's series and hands both to the workers, with the
  // running configuration's TLS contexts (tls_).
  void publish(std::shared_ptr<const routing::snapshot> snap);
  admin::response handle_metrics();
  void begin_shutdown();
  // Asks each worker thread to stop (through its mailbox) and joins it.
  void stop_workers();
  // Rebuilds the snapshot from the running configuration and current rollout states.
  void republish();
  routing::rollout_states current_states() const;
  // Once a second: per rollout and subset, the last second's traffic, for the
  // events stream and /api/v1/stats.
  net::awaitable<void> stats_loop();
  nlohmann::json stats_sample(std::uint64_t second);
  admin::response handle_window(const admin::request& req);
  void check_drained();

  std::string config_path_;
  std::string config_text_;
  config::config boot_config_;  // what the listeners were opened with
  proxy::snapshot_registry registry_;
  std::shared_ptr<const net::tls_contexts> tls_;  // of the running configuration
  std::unique_ptr<metrics::registry> metrics_;
  unsigned worker_count_ = 1;
  routing::rollout_states manual_states_;  // weight API, for rollouts without steps

  net::asio::io_context main_ctx_{1};
  std::unique_ptr<controller> controller_;  // after main_ctx_: its timer dies first
  // Health flags and rate limiters the workers share; the checker writes the flags.
  upstream::shared_table upstream_shared_;
  std::unique_ptr<upstream::health_checker> health_;  // after main_ctx_ and the table
  std::unique_ptr<net::steady_timer> stats_timer_;
  std::deque<nlohmann::json> stats_history_;
  std::uint64_t stats_through_ = 0;  // last monotonic second sampled
  std::vector<std::unique_ptr<worker>> workers_;
  std::vector<std::unique_ptr<proxy::listener_info>> listener_infos_;
  std::unique_ptr<admin::server> admin_;
  std::unique_ptr<net::steady_timer> drain_timer_;
  std::chrono::steady_clock::time_point drain_deadline_;
  std::atomic<bool> ready_{false};
  bool shutting_down_ = false;
  std::uint64_t reloads_ok_ = 0;
  std::uint64_t reloads_rejected_ = 0;
};

}  // namespace cohort::server
