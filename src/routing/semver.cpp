#include "routing/semver.hpp"

namespace cohort::routing {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

}  // namespace

// One pass over the bytes: a version header is parsed on every decision of a
// rollout with a version cohort, and from_chars plus find per part cost
// several times this loop.
std::optional<semver> parse_semver(std::string_view text) {
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end && is_space(*p)) {
    ++p;
  }
  while (end > p && is_space(end[-1])) {
    --end;
  }
  if (p < end && (*p == 'v' || *p == 'V')) {
    ++p;
  }
  std::uint32_t parts[3] = {0, 0, 0};
  for (std::uint32_t& part : parts) {
    // Nine digits always fit in 32 bits; a longer number is no version anyone ships.
    const char* const limit = end - p > 9 ? p + 9 : end;
    const char* const digits = p;
    std::uint32_t n = 0;
    while (p < limit && static_cast<unsigned char>(*p - '0') < 10) {
      n = n * 10 + static_cast<std::uint32_t>(*p - '0');
      ++p;
    }
    if (p == digits || (p < end && static_cast<unsigned char>(*p - '0') < 10)) {
      return std::nullopt;
    }
    part = n;
    // The pre-release or build suffix ends the version.
    if (p == end || *p == '-' || *p == '+') {
      return semver{parts[0], parts[1], parts[2]};
    }
    if (*p != '.') {
      return std::nullopt;
    }
    ++p;
  }
  return std::nullopt;  // a fourth part, or a trailing dot after the third
}

std::optional<semver_range> parse_semver_range(std::string_view text) {
  semver_range range;
  std::size_t pos = 0;
  while (true) {
    while (pos < text.size() && is_space(text[pos])) {
      ++pos;
    }
    if (pos == text.size()) {
      break;
    }
    semver_comparator c;
    const std::string_view rest = text.substr(pos);
    std::size_t op_len = 0;
    if (rest.starts_with(">=")) {
      c.op = semver_op::ge;
      op_len = 2;
    } else if (rest.starts_with("<=")) {
      c.op = semver_op::le;
      op_len = 2;
    } else if (rest.starts_with(">")) {
      c.op = semver_op::gt;
      op_len = 1;
    } else if (rest.starts_with("<")) {
      c.op = semver_op::lt;
      op_len = 1;
    } else if (rest.starts_with("=")) {
      c.op = semver_op::eq;
      op_len = 1;
    }
    pos += op_len;
    // ">= 5.2" is one comparator written with a space.
    while (pos < text.size() && is_space(text[pos])) {
      ++pos;
    }
    std::size_t end = pos;
    while (end < text.size() && !is_space(text[end])) {
      ++end;
    }
    const auto v = parse_semver(text.substr(pos, end - pos));
    if (end == pos || !v) {
      return std::nullopt;
    }
    c.version = *v;
    range.push_back(c);
    pos = end;
  }
  if (range.empty()) {
    return std::nullopt;
  }
  return range;
}

bool satisfies(const semver& v, const semver_range& range) {
  for (const semver_comparator& c : range) {
    bool ok = false;
    switch (c.op) {
      case semver_op::lt:
        ok = v < c.version;
        break;
      case semver_op::le:
        ok = v <= c.version;
        break;
      case semver_op::gt:
        ok = v > c.version;
        break;
      case semver_op::ge:
        ok = v >= c.version;
        break;
      case semver_op::eq:
        ok = v == c.version;
        break;
    }
    if (!ok) {
      return false;
    }
  }
  return true;
}

}  // namespace cohort::routing
