#include "common/units.hpp"

#include <charconv>
#include <cstdio>

namespace cohort {

namespace {

bool parse_uint(std::string_view s, std::uint64_t& out) {
  if (s.empty()) {
    return false;
  }
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

}  // namespace

std::optional<duration> parse_duration(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  std::uint64_t value = 0;
  if (digits == 0 || !parse_uint(text.substr(0, digits), value)) {
    return std::nullopt;
  }
  const std::string_view unit = text.substr(digits);
  std::uint64_t millis_per_unit = 0;
  if (unit == "ms") {
    millis_per_unit = 1;
  } else if (unit == "s") {
    millis_per_unit = 1000;
  } else if (unit == "m") {
    millis_per_unit = 60'000;
  } else if (unit == "h") {
    millis_per_unit = 3'600'000;
  } else {
    return std::nullopt;
  }
  if (value > (std::uint64_t{1} << 40) / millis_per_unit) {
    return std::nullopt;  // absurdly long: surely a typo
  }
  return duration{static_cast<duration::rep>(value * millis_per_unit)};
}

std::string format_duration(duration d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) {
    return std::to_string(ms / 3'600'000) + "h";
  }
  if (ms != 0 && ms % 60'000 == 0) {
    return std::to_string(ms / 60'000) + "m";
  }
  if (ms % 1000 == 0) {
    return std::to_string(ms / 1000) + "s";
  }
  return std::to_string(ms) + "ms";
}

std::optional<basis_points> parse_share(std::string_view text) {
  if (text.size() < 2 || text.back() != '%') {
    return std::nullopt;
  }
  text.remove_suffix(1);
  const size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  std::uint64_t w = 0;
  if (!parse_uint(whole, w) || w > 1000) {
    return std::nullopt;
  }
  std::uint64_t frac = 0;
  if (dot != std::string_view::npos) {
    std::string_view f = text.substr(dot + 1);
    if (f.empty() || f.size() > 2 || !parse_uint(f, frac)) {
      return std::nullopt;
    }
    if (f.size() == 1) {
      frac *= 10;
    }
  }
  return static_cast<basis_points>(w * 100 + frac);
}

std::string format_share(basis_points bp) {
  char buf[32];
  int n = 0;
  if (bp % 100 == 0) {
    n = std::snprintf(buf, sizeof buf, "%u%%", bp / 100);
  } else if (bp % 10 == 0) {
    n = std::snprintf(buf, sizeof buf, "%u.%u%%", bp / 100, (bp % 100) / 10);
  } else {
    n = std::snprintf(buf, sizeof buf, "%u.%02u%%", bp / 100, bp % 100);
  }
  return std::string(buf, static_cast<size_t>(n));
}

std::optional<host_port> parse_host_port(std::string_view text) {
  host_port out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      return std::nullopt;
    }
    out.host = std::string(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) {
      return std::nullopt;  // an IPv6 address needs brackets
    }
    port_text = text.substr(colon + 1);
  }
  std::uint64_t port = 0;
  if (out.host.empty() || !parse_uint(port_text, port) || port > 65535) {
    return std::nullopt;
  }
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

std::string format_host_port(const host_port& hp) {
  if (hp.host.find(':') != std::string::npos) {
    return "[" + hp.host + "]:" + std::to_string(hp.port);
  }
  return hp.host + ":" + std::to_string(hp.port);
}

}  // namespace cohort
