#include "http/message.hpp"

namespace cohort::http {

namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
}

const header* find_in(const std::vector<header>& headers, std::string_view name) {
  for (const header& h : headers) {
    if (iequals(h.name, name)) {
      return &h;
    }
  }
  return nullptr;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

const header* request_head::find(std::string_view name) const {
  return find_in(headers, name);
}

void request_head::clear() {
  method = {};
  target = {};
  path = {};
  query = {};
  ver = version::http11;
  headers.clear();
  host = {};
  framing = body_framing::none;
  content_length = 0;
  keep_alive = true;
  expect_continue = false;
  upgrade = false;
}

const header* response_head::find(std::string_view name) const {
  return find_in(headers, name);
}

void response_head::clear() {
  ver = version::http11;
  status = 0;
  reason = {};
  headers.clear();
  framing = body_framing::none;
  content_length = 0;
  keep_alive = true;
}

}  // namespace cohort::http
