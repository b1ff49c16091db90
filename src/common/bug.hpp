#pragma once
// A broken invariant is loud: logged, counted, and fatal in debug builds.
// Untrusted input never reaches these; it is answered with an error value.

#include <cstdlib>
#include <string_view>

namespace cohort {

void report_bug(std::string_view condition, std::string_view file, int line);

}  // namespace cohort

#define COHORT_BUG_IF(condition)                            \
  do {                                                      \
    if (__builtin_expect(!!(condition), 0)) {               \
      ::cohort::report_bug(#condition, __FILE__, __LINE__); \
    }                                                       \
  } while (false)
