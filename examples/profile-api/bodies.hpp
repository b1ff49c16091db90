#pragma once
// The JSON documents the demo backend answers with. Kept apart from the
// server so the API shapes (the point of the demo) read in one place.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "options.hpp"

namespace cohort::profile_api {

// Header bytes are not guaranteed UTF-8; bytes >= 0x80 are escaped as the
// Latin-1 code point of the same value, so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view s);

std::string profile_body(api_version api, std::string_view version_label, std::string_view user_id);
std::string error_body(std::string_view message, std::string_view version_label);

struct echo_facts {
  std::string_view method;
  std::string_view target;
  std::string_view http_version;  // "1.1"
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  std::uint64_t body_length = 0;
  std::string body_fnv1a64;
  std::string_view version_label;
};
std::string echo_body(const echo_facts& facts);

// The byte at absolute offset i of every /stream body.
inline char stream_pattern_byte(std::uint64_t i) {
  return static_cast<char>('0' + i % 10);
}

}  // namespace cohort::profile_api
