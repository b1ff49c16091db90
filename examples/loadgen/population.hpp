#pragma once
// The simulated users: stable ids 1..N, each in exactly one cohort, with an app
// version and (for anonymous users) a cookie jar. Built from the options and the
// seed alone, so two runs with the same seed simulate the same people.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cookie_jar.hpp"
#include "options.hpp"

namespace cohort::loadgen {

// Exclusive: a beta tester is never also counted as internal or legacy, so a
// report can say "every legacy user stayed on stable" without overlaps.
enum class cohort_kind : std::uint8_t { internal, beta, legacy, anonymous, regular };
inline constexpr std::size_t cohort_count = 5;
std::string_view to_string(cohort_kind k);

struct user {
  std::uint32_t id = 0;
  cohort_kind kind = cohort_kind::regular;
  std::string app_version;  // X-App-Version
  cookie_jar cookies;       // used by anonymous users only
};

std::vector<user> build_population(const options& opts);

}  // namespace cohort::loadgen
