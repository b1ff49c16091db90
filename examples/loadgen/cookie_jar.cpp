#include "cookie_jar.hpp"

#include <algorithm>
#include <cctype>

namespace cohort::loadgen {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

void cookie_jar::store(std::string_view set_cookie) {
  const auto semi = set_cookie.find(';');
  const std::string_view pair = trim(set_cookie.substr(0, semi));
  const auto eq = pair.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return;  // RFC 6265 5.2: a cookie without a name is ignored
  }
  const std::string name(trim(pair.substr(0, eq)));
  const std::string value(trim(pair.substr(eq + 1)));
  bool expired = false;
  std::string_view attrs = semi == std::string_view::npos ? "" : set_cookie.substr(semi + 1);
  while (!attrs.empty()) {
    const auto next = attrs.find(';');
    const std::string_view attr = trim(attrs.substr(0, next));
    attrs = next == std::string_view::npos ? "" : attrs.substr(next + 1);
    const auto aeq = attr.find('=');
    if (aeq != std::string_view::npos && iequals(trim(attr.substr(0, aeq)), "max-age")) {
      const std::string_view v = trim(attr.substr(aeq + 1));
      expired = v == "0" || v.starts_with('-');
    }
  }
  auto it = std::find_if(cookies_.begin(), cookies_.end(),
                         [&](const auto& c) { return c.first == name; });
  if (expired) {
    if (it != cookies_.end()) {
      cookies_.erase(it);
    }
    return;
  }
  if (it != cookies_.end()) {
    it->second = value;
  } else {
    cookies_.emplace_back(name, value);
  }
}

std::string cookie_jar::header() const {
  std::string out;
  for (const auto& [name, value] : cookies_) {
    if (!out.empty()) {
      out += "; ";
    }
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

}  // namespace cohort::loadgen
