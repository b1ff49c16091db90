#include "common/bug.hpp"

#include <atomic>

#include "common/log.hpp"

namespace cohort {

namespace {
std::atomic<unsigned long> bug_count{0};
}

void report_bug(std::string_view condition, std::string_view file, int line) {
  bug_count.fetch_add(1, std::memory_order_relaxed);
  log::error("bug", {{"condition", condition}, {"file", file}, {"line", std::to_string(line)}});
#ifndef NDEBUG
  std::abort();
#endif
}

}  // namespace cohort
