#pragma once
// Decisions in words, for the admin API (POST /api/v1/explain), the access log
// and `cohort explain`: names instead of indices.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "routing/decision.hpp"
#include "routing/snapshot.hpp"

namespace cohort::routing {

struct explanation {
  bool routed = false;  // false: no route matched (404)
  std::string route;
  std::string service;
  std::string subset;
  std::string rollout;                  // empty when no rollout applies
  std::string reason;                   // "bucket:417<500"
  std::string_view reason_label;        // "bucket"
  std::optional<std::uint32_t> bucket;  // when a user key (or a random draw) was bucketed
  basis_points weight = 0;
  bool has_key = false;
  std::uint64_t key_hash = 0;
  std::string new_anonymous_id;  // the cookie value a response would set
};

// Names for the indices of a decision; empty for -1 (or out of range).
std::string_view route_name(const snapshot& snap, std::int32_t route);
std::string_view rollout_name(const snapshot& snap, std::int32_t rollout);
std::string_view service_name(const snapshot& snap, std::int32_t service);
std::string_view subset_name(const snapshot& snap, const decision& d);

explanation describe(const decision& d, const snapshot& snap);

// decide() then describe(). `random` only matters to anonymous requests; the
// admin API passes 0 so that an explain call is reproducible.
explanation explain(const request_view& request, const snapshot& snap, std::uint64_t random = 0);

}  // namespace cohort::routing
