#include "routing/semver.hpp"

#include <charconv>

namespace cohort::routing {

namespace {

bool parse_part(std::string_view s, std::uint32_t& out) {
  // Nine digits always fit in 32 bits; longer is not a version anyone ships.
  if (s.empty() || s.size() > 9) {
    return false;
  }
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

}  // namespace

std::optional<semver> parse_semver(std::string_view text) {
  while (!text.empty() && is_space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_space(text.back())) {
    text.remove_suffix(1);
  }
  if (!text.empty() && (text.front() == 'v' || text.front() == 'V')) {
    text.remove_prefix(1);
  }
  const std::size_t suffix = text.find_first_of("-+");
  if (suffix != std::string_view::npos) {
    text = text.substr(0, suffix);
  }
  semver v;
  std::uint32_t* parts[] = {&v.major, &v.minor, &v.patch};
  std::size_t index = 0;
  while (true) {
    if (index == 3) {
      return std::nullopt;  // a fourth part
    }
    const std::size_t dot = text.find('.');
    if (!parse_part(text.substr(0, dot), *parts[index])) {
      return std::nullopt;
    }
    ++index;
    if (dot == std::string_view::npos) {
      return v;
    }
    text.remove_prefix(dot + 1);
  }
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
