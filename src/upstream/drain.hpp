#pragma once
// Which subsets of a snapshot can receive users, as decide() routes them: a
// subset that cannot (the canary and baseline after a rollback, stable and
// baseline after a promotion, a subset nothing routes to) has its upstream
// connections drained: idle ones are closed, busy ones are not kept. Pure.

#include <cstdint>
#include <vector>

#include "routing/snapshot.hpp"

namespace cohort::upstream {

// [service][subset]: true when some route can send a user there. Failover and
// retries to stable do not count (they are exceptional; their connections are
// simply not kept while stable has no users).
std::vector<std::vector<bool>> subsets_in_use(const routing::snapshot& snap);

}  // namespace cohort::upstream
