#include "config/semver_range.hpp"

#include <charconv>

namespace cohort::config {

std::optional<semver> parse_semver(std::string_view text) {
  semver out;
  std::size_t part = 0;
  const char* p = text.data();
  const char* const end = text.data() + text.size();
  while (true) {
    if (part == out.parts.size() || p == end || *p < '0' || *p > '9') {
      return std::nullopt;
    }
    const auto [next, ec] = std::from_chars(p, end, out.parts[part]);
    if (ec != std::errc{}) {
      return std::nullopt;
    }
    ++part;
    p = next;
    if (p == end) {
      return out;
    }
    if (*p != '.') {
      return std::nullopt;
    }
    ++p;
  }
}

result<semver_range> parse_semver_range(std::string_view text) {
  semver_range range;
  std::size_t i = 0;
  while (true) {
    while (i < text.size() && text[i] == ' ') {
      ++i;
    }
    if (i == text.size()) {
      break;
    }
    const std::size_t stop = text.find(' ', i);
    const std::string_view item =
        text.substr(i, stop == std::string_view::npos ? std::string_view::npos : stop - i);
    i = stop == std::string_view::npos ? text.size() : stop;

    semver_comparator c;
    std::string_view version = item;
    if (item.starts_with("<=")) {
      c.op = semver_op::le;
      version.remove_prefix(2);
    } else if (item.starts_with(">=")) {
      c.op = semver_op::ge;
      version.remove_prefix(2);
    } else if (item.starts_with("<")) {
      c.op = semver_op::lt;
      version.remove_prefix(1);
    } else if (item.starts_with(">")) {
      c.op = semver_op::gt;
      version.remove_prefix(1);
    } else if (item.starts_with("=")) {
      c.op = semver_op::eq;
      version.remove_prefix(1);
    } else {
      return error{"'" + std::string(item) + "' does not start with <, <=, >, >= or ="};
    }
    const auto v = parse_semver(version);
    if (!v) {
      return error{"'" + std::string(version) + "' is not a version (1 to 3 numbers, like 5.2.0)"};
    }
    c.version = *v;
    range.comparators.push_back(c);
  }
  if (range.comparators.empty()) {
    return error{"is empty"};
  }
  return range;
}

bool satisfies(const semver& version, const semver_range& range) {
  for (const auto& c : range.comparators) {
    bool holds = false;
    switch (c.op) {
      case semver_op::lt:
        holds = version < c.version;
        break;
      case semver_op::le:
        holds = version <= c.version;
        break;
      case semver_op::gt:
        holds = version > c.version;
        break;
      case semver_op::ge:
        holds = version >= c.version;
        break;
      case semver_op::eq:
        holds = version == c.version;
        break;
    }
    if (!holds) {
      return false;
    }
  }
  return true;
}

}  // namespace cohort::config
