#include "proxy/access_log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "common/log.hpp"

namespace cohort::proxy {

namespace {

void add_string(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":\"";
  log::append_json_escaped(out, value);
  out += '"';
}

void add_number(std::string& out, std::string_view key, std::uint64_t value) {
  out += ",\"";
  out += key;
  out += "\":";
  out += std::to_string(value);
}

}  // namespace

void write_access_log(const access_record& r, std::string& out) {
  out.clear();
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::time_point_cast<std::chrono::seconds>(now);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now - secs).count();
  const std::time_t t = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                        tm.tm_sec, static_cast<int>(micros));
  out.append(buf, static_cast<std::size_t>(n));
  out += ",\"level\":\"info\",\"msg\":\"access\"";
  add_string(out, "method", r.method);
  add_string(out, "path", r.path);
  add_string(out, "protocol", r.protocol);
  add_string(out, "route", r.route);
  add_string(out, "service", r.service);
  add_string(out, "subset", r.subset);
  add_string(out, "reason", r.reason);
  add_number(out, "status", r.status);
  n = std::snprintf(buf, sizeof buf, ",\"duration_ms\":%.3f", r.duration_ms);
  out.append(buf, static_cast<std::size_t>(n));
  add_number(out, "bytes_in", r.bytes_in);
  add_number(out, "bytes_out", r.bytes_out);
  add_string(out, "upstream", r.upstream);
  if (r.has_user_key) {
    n = std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(r.user_key_hash));
    add_string(out, "user_key_hash", std::string_view(buf, static_cast<std::size_t>(n)));
  }
  add_string(out, "trace_id", r.trace_id);
  out += "}\n";
  log::write_line(out);
}

}  // namespace cohort::proxy
