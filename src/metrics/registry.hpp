#pragma once
// The process-wide metrics: one shard per worker, the interned label sets, and
// the readers (Prometheus collection, the controller's window queries), which
// merge the shards when they are asked and never stop the workers.
//
//   registry reg(workers);
//   series_table t = reg.intern(model);          // at each snapshot publish
//   reg.worker(i).record({t.request(r, s), t.arm(ro, s), 200, false, ns, in, out, now_s});
//   window_stats w = reg.query(*reg.find_arm("profile-api", "canary"), 30, now_s);

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/histogram.hpp"
#include "metrics/series_table.hpp"
#include "metrics/shard.hpp"
#include "metrics/window_stats.hpp"

namespace cohort::metrics {

// Everything the shards hold, merged (what /metrics renders).
struct collected {
  struct request_series {
    std::string route, service, subset;
    std::vector<std::pair<std::uint16_t, std::uint64_t>> codes;  // by code, ascending
    std::uint64_t other_codes = 0;  // beyond the 16 distinct codes a series keeps
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    latency_histogram latency;
    std::uint64_t requests() const;
  };
  struct upstream_series {
    std::string service, subset;
    std::uint64_t connect_failures = 0;
    std::uint64_t timeouts = 0;
    std::uint64_t resets = 0;
    std::array<std::uint64_t, breaker_count> breaker_overflows{};
    std::uint64_t tunnels_open = 0;
    std::array<std::uint64_t, grpc_status_count> grpc_statuses{};
    std::uint64_t rate_limited = 0;
  };
  struct failover_series {
    std::string service, from, to;
    std::uint64_t count = 0;
  };
  struct listener_series {
    std::string listener;
    std::uint64_t open = 0;
    std::uint64_t accepted = 0;
    std::uint64_t tls_handshake_failures = 0;
    std::array<std::uint64_t, protocol_count> requests{};
  };
  struct decision_series {
    std::string rollout, subset, reason;
    std::uint64_t count = 0;
  };
  std::vector<request_series> requests;
  std::vector<upstream_series> upstreams;
  std::vector<listener_series> listeners;
  std::vector<decision_series> decisions;
  std::vector<failover_series> failovers;
  std::uint64_t refused_series = 0;  // label sets beyond capacity, recorded nowhere
};

class registry {
 public:
  explicit registry(unsigned workers);
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  unsigned workers() const { return static_cast<unsigned>(shards_.size()); }
  shard& worker(unsigned index) { return *shards_[index]; }

  // Off the request path (takes the mutex, allocates the new series' cells in
  // every shard). Hand the table to the workers with the snapshot it describes.
  series_table intern(const label_model& model);
  listener_id intern_listener(std::string_view name);

  // The window ring of a rollout's subset, if it was ever interned.
  std::optional<series_id> find_arm(std::string_view rollout, std::string_view subset) const;

  // The last `seconds` seconds up to and including now_s (at most window_slots).
  // now_s is the caller's clock, the same one the workers pass to record().
  window_stats query(series_id arm, std::uint32_t seconds, std::uint64_t now_s) const;
  // One second of an arm (zeros when it has left the ring or never happened).
  second_stats second(series_id arm, std::uint64_t second) const;

  collected collect() const;

 private:
  // Label values by id, and ids by label values.
  struct label_index {
    std::vector<std::vector<std::string>> by_id;
    std::map<std::vector<std::string>, series_id> ids;
  };
  series_id intern_one(label_index& index, std::vector<std::string> key, std::size_t capacity);
  void reserve_all();

  std::vector<std::unique_ptr<shard>> shards_;
  mutable std::mutex mutex_;
  label_index requests_;
  label_index upstreams_;
  label_index arms_;
  label_index decisions_;
  label_index failovers_;
  label_index listeners_;
  std::uint64_t refused_ = 0;
};

}  // namespace cohort::metrics
