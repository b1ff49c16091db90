#include "cli/allocator.hpp"

#if defined(COHORT_WITH_TCMALLOC)
#include <gperftools/tcmalloc.h>
#endif

namespace cohort::cli {

std::string allocator_name() {
#if defined(COHORT_WITH_TCMALLOC)
  // A call by name: the link cannot drop the library as unused.
  return std::string("tcmalloc (") + tc_version(nullptr, nullptr, nullptr) + ")";
#else
  return "glibc";
#endif
}

}  // namespace cohort::cli
