#include "routing/semver.hpp"

namespace cohort::routing {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

}  // namespace

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
  // One loop over the bytes with the part and its digit count as state: a
  // version header is parsed on every decision of a rollout with a version
  // cohort, and a loop per part cost twice this.
  std::uint32_t parts[3] = {0, 0, 0};
  std::size_t part = 0;
  int digits = 0;
  for (; p < end; ++p) {
    const auto d = static_cast<unsigned char>(*p - '0');
    if (d < 10) {
      if (++digits > 9) {
        // Nine digits always fit in 32 bits; longer is no version anyone ships.
        return std::nullopt;
      }
      parts[part] = parts[part] * 10 + d;
      continue;
    }
    if (digits == 0) {
      return std::nullopt;  // an empty part
    }
    if (*p == '.') {
      if (part == 2) {
        return std::nullopt;  // a fourth part, or a trailing dot after the third
      }
      ++part;
      digits = 0;
      continue;
    }
    if (*p == '-' || *p == '+') {
      break;  // the pre-release or build suffix ends the version
    }
    return std::nullopt;
  }
  if (digits == 0) {
    return std::nullopt;
  }
  return semver{parts[0], parts[1], parts[2]};
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
