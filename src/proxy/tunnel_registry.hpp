#pragma once
// The open WebSocket tunnels of one worker, and the rule that decides which of
// them a newly published snapshot ends. A tunnel was routed once, at its
// upgrade; when a rollout is rolled back its canary and baseline users must
// reconnect to land on stable, so their tunnels are closed (after a grace).
// No Asio here: a tunnel closes itself when asked, so the rule and the
// bookkeeping are tested with values.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/units.hpp"
#include "routing/decision.hpp"
#include "routing/snapshot.hpp"

namespace cohort::proxy {

// Who a tunnel belongs to, copied from its decision at the upgrade (names,
// not indexes: indexes change with the snapshot).
struct tunnel_identity {
  std::string service;
  std::string subset;   // the subset it is connected to (after any failover)
  std::string rollout;  // empty: no rollout applied
  routing::reason_kind kind = routing::reason_kind::route;
};

tunnel_identity identity_of(const routing::decision& d, const routing::snapshot& snap);

enum class tunnel_fate : std::uint8_t {
  keep,
  rolled_back,     // the rollout was rolled back (or aborted): its users belong on stable
  subset_removed,  // a reload removed the subset (or the service) it is connected to
};
std::string_view to_string(tunnel_fate f);

// Would the tunnel's user still be on the same subset under snap? Only a
// rollback moves users backwards; a promotion or a weight change moves no one
// off the version they are on, and a rollout removed by a reload retires
// without moving anyone.
tunnel_fate fate_of(const tunnel_identity& id, const routing::snapshot& snap);

// Implemented by a running tunnel.
class closable_tunnel {
 public:
  virtual ~closable_tunnel() = default;
  // Ends the tunnel no later than grace from now (0: at once).
  virtual void close_after(duration grace) = 0;
};

class tunnel_registry {
 public:
  struct closing {
    std::string what;  // the rollout rolled back, or "service/subset" removed
    tunnel_fate why = tunnel_fate::keep;
    std::size_t count = 0;
  };

  // Registers a tunnel; when snap (the worker's current snapshot) already
  // routes its user elsewhere it is told to close at once (it was decided on
  // an older snapshot that a sweep could not see yet). Returns its fate.
  tunnel_fate add(closable_tunnel& t, tunnel_identity id, const routing::snapshot& snap,
                  duration grace);
  void remove(closable_tunnel& t);
  std::size_t size() const { return open_.size(); }

  // Tells every tunnel that snap routes elsewhere to close after grace; each
  // tunnel is told once. Returns the closings by rollout and reason.
  std::vector<closing> sweep(const routing::snapshot& snap, duration grace);

 private:
  struct entry {
    tunnel_identity id;
    bool closing = false;
  };
  std::unordered_map<closable_tunnel*, entry> open_;
};

}  // namespace cohort::proxy
