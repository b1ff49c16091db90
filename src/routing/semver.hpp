#pragma once
// Semantic-version ranges for app-version headers ("<5.2.0", ">=5.2.0 <6"), so
// old mobile builds can be kept on stable. Lenient on the request side: app
// stores and clients write "v5.2", "5.2.0-beta.1", "5.2.0+build7".

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace cohort::routing {

struct semver {
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  std::uint32_t patch = 0;
  friend constexpr auto operator<=>(const semver&, const semver&) = default;
};

// "5", "5.2", "5.2.0", "v5.2.0", "5.2.0-rc.1", "5.2.0+b7" parse (missing parts are 0,
// the pre-release / build suffix is ignored); anything else is nullopt.
std::optional<semver> parse_semver(std::string_view text);

enum class semver_op : std::uint8_t { lt, le, gt, ge, eq };

struct semver_comparator {
  semver_op op = semver_op::eq;
  semver version;
};

// All comparators must hold.
using semver_range = std::vector<semver_comparator>;

// Space-separated comparators: "<5.2.0", ">=5.2.0 <6", "5.1" (equal), ">= 5.2".
// nullopt when empty or when a part does not parse.
std::optional<semver_range> parse_semver_range(std::string_view text);

bool satisfies(const semver& v, const semver_range& range);

}  // namespace cohort::routing
