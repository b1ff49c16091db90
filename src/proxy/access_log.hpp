#pragma once
// The access log: one JSON object per request on stderr (off, sampled or all).

#include <cstdint>
#include <string>
#include <string_view>

namespace cohort::proxy {

struct access_record {
  std::string_view method;
  std::string_view path;
  std::string_view route;
  std::string_view service;
  std::string_view subset;
  std::string_view reason;
  std::string_view upstream;  // endpoint "host:port", empty when none was reached
  std::string_view trace_id;
  std::string_view protocol = "HTTP/1.1";
  unsigned status = 0;
  double duration_ms = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  bool has_user_key = false;
  std::uint64_t user_key_hash = 0;
};

// Formats the line into out (cleared first) and writes it.
void write_access_log(const access_record& r, std::string& out);

}  // namespace cohort::proxy
