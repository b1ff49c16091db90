#pragma once
// What the workers' pools share: one health flag per endpoint key (written by
// the health checker on the main thread) and one token bucket per subset with
// a rate limit. Entries are found under a mutex when a pool attaches a
// snapshot, then used through stable pointers with atomics only: no lock on
// the request path. Entries are never erased, so the pointers stay valid.

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "config/config.hpp"
#include "upstream/token_bucket.hpp"

namespace cohort::upstream {

class shared_table {
 public:
  // The health flag of an endpoint ("host:port"); created true (healthy).
  std::atomic<bool>* health_flag(const std::string& endpoint_key);

  // The bucket of a subset, (re)configured with limit; nullptr without a limit.
  token_bucket* limiter(const std::string& service, const std::string& subset,
                        const std::optional<config::rate_limit_config>& limit);

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::unique_ptr<std::atomic<bool>>> health_;
  std::unordered_map<std::string, std::unique_ptr<token_bucket>> limiters_;
};

}  // namespace cohort::upstream
