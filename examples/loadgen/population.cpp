#include "population.hpp"

#include <algorithm>
#include <array>
#include <random>

namespace cohort::loadgen {

namespace {

std::uint32_t share_of(std::uint32_t n, basis_points bp) {
  return static_cast<std::uint32_t>((std::uint64_t{n} * bp + full_share / 2) / full_share);
}

}  // namespace

std::string_view to_string(cohort_kind k) {
  switch (k) {
    case cohort_kind::internal:
      return "internal";
    case cohort_kind::beta:
      return "beta";
    case cohort_kind::legacy:
      return "legacy";
    case cohort_kind::anonymous:
      return "anonymous";
    case cohort_kind::regular:
      return "regular";
  }
  return "regular";
}

std::vector<user> build_population(const options& opts) {
  std::vector<user> users(opts.users);
  std::vector<std::uint32_t> unassigned;
  unassigned.reserve(opts.users);
  for (std::uint32_t i = 0; i < opts.users; ++i) {
    users[i].id = i + 1;
    if (std::binary_search(opts.beta_users.begin(), opts.beta_users.end(), i + 1)) {
      users[i].kind = cohort_kind::beta;
    } else {
      unassigned.push_back(i);
    }
  }
  // Shares are taken of the whole population, from the users left after the beta list.
  std::mt19937_64 rng(opts.seed);
  std::shuffle(unassigned.begin(), unassigned.end(), rng);
  const auto n = static_cast<std::uint32_t>(unassigned.size());
  const std::uint32_t internal = std::min(n, share_of(opts.users, opts.internal_share));
  const std::uint32_t legacy = std::min(n - internal, share_of(opts.users, opts.legacy_share));
  const std::uint32_t anonymous =
      std::min(n - internal - legacy, share_of(opts.users, opts.anonymous_share));
  for (std::uint32_t i = 0; i < n; ++i) {
    user& u = users[unassigned[i]];
    if (i < internal) {
      u.kind = cohort_kind::internal;
    } else if (i < internal + legacy) {
      u.kind = cohort_kind::legacy;
    } else if (i < internal + legacy + anonymous) {
      u.kind = cohort_kind::anonymous;
    }
  }
  // App versions: old builds 5.1.x for the legacy cohort, current builds for everyone else.
  static constexpr std::array<std::string_view, 6> current = {"5.2.0", "5.3.1", "5.4.2",
                                                              "5.9.0", "6.0.0", "6.1.3"};
  for (user& u : users) {
    if (u.kind == cohort_kind::legacy) {
      u.app_version = "5.1." + std::to_string(rng() % 10);
    } else {
      u.app_version = std::string(current[rng() % current.size()]);
    }
  }
  return users;
}

}  // namespace cohort::loadgen
