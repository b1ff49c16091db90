#include "upstream/shared_table.hpp"

namespace cohort::upstream {

std::atomic<bool>* shared_table::health_flag(const std::string& endpoint_key) {
  std::lock_guard lock(mutex_);
  auto& flag = health_[endpoint_key];
  if (!flag) {
    flag = std::make_unique<std::atomic<bool>>(true);
  }
  return flag.get();
}

token_bucket* shared_table::limiter(const std::string& service, const std::string& subset,
                                    const std::optional<config::rate_limit_config>& limit) {
  if (!limit) {
    return nullptr;
  }
  std::lock_guard lock(mutex_);
  auto& bucket = limiters_[service + "/" + subset];
  if (!bucket) {
    bucket = std::make_unique<token_bucket>(limit->requests_per_second, limit->burst);
  } else {
    bucket->configure(limit->requests_per_second, limit->burst);
  }
  return bucket.get();
}

}  // namespace cohort::upstream
