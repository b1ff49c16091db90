#pragma once
// Semantic-version ranges for cohort rules such as "keep app versions below
// 5.2.0 on stable": "<5.2.0", ">=5.2.0 <6", "=1.2.3". A range is a list of
// comparators separated by spaces, all of which must hold. Versions have one
// to three numeric parts; missing parts count as 0 ("<6" is "<6.0.0").

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace cohort::config {

struct semver {
  std::array<std::uint32_t, 3> parts{};  // major, minor, patch
  auto operator<=>(const semver&) const = default;
};

enum class semver_op { lt, le, gt, ge, eq };

struct semver_comparator {
  semver_op op = semver_op::eq;
  semver version;
};

struct semver_range {
  std::vector<semver_comparator> comparators;  // all must hold
};

// "1", "1.2", "1.2.3"; nothing else (no "v" prefix, no pre-release).
std::optional<semver> parse_semver(std::string_view text);

// The error message says which part is wrong, for "<what>: semver range '...': <message>".
result<semver_range> parse_semver_range(std::string_view text);

bool satisfies(const semver& version, const semver_range& range);

}  // namespace cohort::config
