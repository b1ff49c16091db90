#pragma once
// Which malloc the gateway runs on, for its start-up log: tcmalloc when the
// build linked it (COHORT_TCMALLOC), else the C library's.

#include <string>

namespace cohort::cli {

std::string allocator_name();

}  // namespace cohort::cli
