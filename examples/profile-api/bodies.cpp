#include "bodies.hpp"

namespace cohort::profile_api {

namespace {

// Ids come from a header; keep the URLs we build from them valid.
void append_url_escaped(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    const bool unreserved = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
                            (u >= '0' && u <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 0xf];
    }
  }
}

void append_avatar_url(std::string& out, std::string_view user_id, std::string_view suffix) {
  out += "\"https://cdn.example.com/avatars/";
  std::string path;
  append_url_escaped(path, user_id);
  out += path;
  out += suffix;
  out += ".png\"";
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (u < 0x20 || u >= 0x7f) {
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

std::string profile_body(api_version api, std::string_view version_label,
                         std::string_view user_id) {
  std::string out;
  out.reserve(256);
  out += "{\"userId\":";
  append_json_string(out, user_id);
  out += ",\"username\":";
  std::string username =
      user_id == "anonymous" ? std::string("anonymous") : "user_" + std::string(user_id);
  append_json_string(out, username);
  if (api == api_version::v1_0) {
    out += ",\"avatarUrl\":";
    append_avatar_url(out, user_id, "");
  } else {
    // v1.1 is the breaking change of the story: the string became an object.
    out += ",\"avatar\":{\"primary\":";
    append_avatar_url(out, user_id, "");
    out += ",\"thumbnail\":";
    append_avatar_url(out, user_id, "_64");
    out += '}';
  }
  out += ",\"version\":";
  append_json_string(out, version_label);
  out += '}';
  return out;
}

std::string error_body(std::string_view message, std::string_view version_label) {
  std::string out = "{\"error\":";
  append_json_string(out, message);
  out += ",\"version\":";
  append_json_string(out, version_label);
  out += '}';
  return out;
}

std::string echo_body(const echo_facts& facts) {
  std::string out;
  out.reserve(256 + facts.headers.size() * 48);
  out += "{\"method\":";
  append_json_string(out, facts.method);
  out += ",\"target\":";
  append_json_string(out, facts.target);
  out += ",\"http_version\":";
  append_json_string(out, facts.http_version);
  out += ",\"headers\":[";
  bool first = true;
  for (const auto& [name, value] : facts.headers) {
    if (!first) {
      out += ',';
    }
    first = false;
    out += '[';
    append_json_string(out, name);
    out += ',';
    append_json_string(out, value);
    out += ']';
  }
  out += "],\"body_length\":";
  out += std::to_string(facts.body_length);
  out += ",\"body_fnv1a64\":";
  append_json_string(out, facts.body_fnv1a64);
  out += ",\"version\":";
  append_json_string(out, facts.version_label);
  out += '}';
  return out;
}

}  // namespace cohort::profile_api
