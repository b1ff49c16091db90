#pragma once
// The routing decision: a pure function of the request and the snapshot (and a
// random value the caller draws, for anonymous `random` splits and new
// anonymous ids). No I/O, no clock, no allocation on the common path.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/units.hpp"
#include "routing/request_view.hpp"
#include "routing/snapshot.hpp"

namespace cohort::routing {

enum class reason_kind : std::uint8_t {
  no_route,       // 404: no route matched
  route,          // "route:<route>" no rollout applies: the service's stable subset
  cohort,         // "cohort:<cohort>" a cohort a step added joined the canary
  pin,            // "pin:<cohort>" a pinned cohort
  bucket_canary,  // "bucket:<b><<w>"
  bucket_stable,  // "bucket:<b>>=<w>"
  baseline,       // "baseline:<b>"
  anonymous,      // "anonymous:<policy>"
  rolled_back,    // "rollback:<rollout>" the rollout failed: everyone on stable
  promoted,       // "promoted:<rollout>" the canary serves everyone not pinned to stable
};

// Names used as the `reason` label of cohort_decisions_total: cohort|pin|bucket|anonymous|...
std::string_view reason_label(reason_kind k);

struct decision {
  reason_kind kind = reason_kind::no_route;
  std::int32_t route = -1;    // index into snapshot.routes()
  std::int32_t service = -1;  // index into snapshot.services()
  std::int32_t rollout = -1;  // index into snapshot.rollouts(); -1 when none applies
  std::uint32_t subset = 0;   // index into the service's subsets
  std::string_view name;      // the route, cohort or policy named in the reason
  std::uint32_t bucket = 0;   // 0..9999 when a key was hashed
  basis_points weight = 0;    // the canary share the bucket was compared with
  bool has_key = false;
  std::uint64_t key_hash = 0;  // XXH3 of the user key (for logs: never the raw key)

  // Set by the gateway, not by decide(): the decided subset (canary or
  // baseline) was sick, so `subset` is now the rollout's stable subset. The
  // user keeps their assignment; the reason gains ",failover:<from>-><to>".
  std::int32_t failover_from = -1;
  std::string_view failover_from_name;  // subset names, owned by the snapshot
  std::string_view failover_to_name;
  void fail_over(std::uint32_t to, std::string_view from_name, std::string_view to_name) {
    if (failover_from < 0) {
      failover_from = static_cast<std::int32_t>(subset);
      failover_from_name = from_name;
    }
    subset = to;
    failover_to_name = to_name;
  }
  // The subset the rollout assigned (before any failover): its arm is charged.
  std::uint32_t assigned_subset() const {
    return failover_from >= 0 ? static_cast<std::uint32_t>(failover_from) : subset;
  }

  // When the rollout issues an anonymous id: the cookie value to set (hex), else empty.
  std::array<char, 16> new_anonymous_id{};
  std::uint8_t new_anonymous_id_len = 0;
  std::string_view new_anonymous_id_view() const {
    return {new_anonymous_id.data(), new_anonymous_id_len};
  }

  // Writes the reason string ("bucket:417<500") into buf; returns its length (truncated to n).
  std::size_t format_reason(char* buf, std::size_t n) const;
  std::string reason() const;
};

decision decide(const request_view& request, const snapshot& snap, std::uint64_t random);

// The target shares of a rollout's subsets (basis points, summing to 10000)
// as decide() splits buckets: canary [0, w), baseline [w, min(2w, 10000)),
// stable the rest; everything to the canary when promoted, to stable when
// rolled back. Pins and cohorts are not counted (they depend on traffic).
struct target_shares {
  basis_points canary = 0;
  basis_points baseline = 0;
  basis_points stable = full_share;
};
target_shares shares_of(const rollout_state& state, bool has_baseline);

// The bucket of a user key in a rollout: XXH3_64bits_withSeed(key, seed) % 10000.
std::uint32_t bucket_of(std::string_view user_key, std::uint64_t seed);

}  // namespace cohort::routing
