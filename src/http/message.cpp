#include "http/message.hpp"

namespace cohort::http {

namespace {

const header* find_in(const std::vector<header>& headers, std::string_view name) {
  for (const header& h : headers) {
    if (iequals(h.name, name)) {
      return &h;
    }
  }
  return nullptr;
}

}  // namespace

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
