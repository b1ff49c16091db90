#pragma once
// Label sets turned into small integer ids, off the request path. When a new
// routing snapshot is published the server describes its routes, services,
// subsets and rollouts as a label_model and asks the registry to intern it;
// the resulting series_table maps the snapshot's indexes (as routing's
// decision carries them) to ids with two array reads, no hashing.
//
// Ids are stable for the life of the registry: the same label set always gets
// the same id, so counters of a route that survives a reload keep counting.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cohort::metrics {

using series_id = std::uint32_t;
inline constexpr series_id no_series = ~series_id{0};

// The `reason` label of cohort_decisions_total (routing's reason_label()).
enum class decision_reason : std::uint8_t { cohort, pin, bucket, anonymous, rollback, promoted };
inline constexpr std::size_t decision_reason_count = 6;
std::string_view label_of(decision_reason r);

enum class upstream_event : std::uint8_t { connect_failure, timeout, reset };

// The `breaker` label of cohort_circuit_breaker_overflows_total.
enum class breaker : std::uint8_t { max_connections, max_pending, max_requests };
inline constexpr std::size_t breaker_count = 3;
std::string_view label_of(breaker b);

// The `protocol` label of cohort_downstream_requests_total.
enum class protocol : std::uint8_t { http1_0, http1_1, http2 };
inline constexpr std::size_t protocol_count = 3;
std::string_view label_of(protocol p);

// gRPC status codes 0..16 (cohort_grpc_responses_total{grpc_status}).
inline constexpr std::size_t grpc_status_count = 17;

// What a snapshot names, by index (the indexes routing uses).
struct label_model {
  struct service {
    std::string name;
    std::vector<std::string> subsets;
  };
  struct route {
    std::string name;
    std::uint32_t service = 0;  // index into services
  };
  struct rollout {
    std::string name;
    std::uint32_t service = 0;  // index into services; its subsets are the rollout's arms
  };
  std::vector<service> services;
  std::vector<route> routes;
  std::vector<rollout> rollouts;
};

class series_table {
 public:
  // cohort_requests_total / _duration_ / bytes: route -1 is "no route matched"
  // (labels route="", service="", subset="").
  series_id request(std::int32_t route, std::uint32_t subset) const {
    if (route < 0) {
      return unrouted_;
    }
    return pick(route_base_, static_cast<std::size_t>(route), subset, request_ids_);
  }
  // Upstream connect failures / timeouts / resets.
  series_id upstream(std::int32_t service, std::uint32_t subset) const {
    if (service < 0) {
      return no_series;
    }
    return pick(service_base_, static_cast<std::size_t>(service), subset, upstream_ids_);
  }
  // The controller's window ring of a (rollout, subset); no_series when no rollout applies.
  series_id arm(std::int32_t rollout, std::uint32_t subset) const {
    if (rollout < 0) {
      return no_series;
    }
    return pick(rollout_base_, static_cast<std::size_t>(rollout), subset, arm_ids_);
  }
  series_id decision(std::int32_t rollout, std::uint32_t subset, decision_reason r) const {
    const auto ro = static_cast<std::size_t>(rollout);
    if (rollout < 0 || ro + 1 >= rollout_base_.size() ||
        subset >= rollout_base_[ro + 1] - rollout_base_[ro]) {
      return no_series;
    }
    // Six decision ids per arm position, in decision_reason order.
    return decision_ids_[(rollout_base_[ro] + subset) * decision_reason_count +
                         static_cast<std::size_t>(r)];
  }

 private:
  friend class registry;

  // base has one more entry than there are owners: base[i]..base[i+1] are owner i's subsets.
  static series_id pick(const std::vector<std::uint32_t>& base, std::size_t owner,
                        std::uint32_t subset, const std::vector<series_id>& ids) {
    if (owner + 1 >= base.size() || subset >= base[owner + 1] - base[owner]) {
      return no_series;
    }
    return ids[base[owner] + subset];
  }

  series_id unrouted_ = no_series;
  std::vector<std::uint32_t> route_base_{0};
  std::vector<series_id> request_ids_;
  std::vector<std::uint32_t> service_base_{0};
  std::vector<series_id> upstream_ids_;
  std::vector<std::uint32_t> rollout_base_{0};
  std::vector<series_id> arm_ids_;
  std::vector<series_id> decision_ids_;
};

}  // namespace cohort::metrics
