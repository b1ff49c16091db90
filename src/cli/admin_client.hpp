#pragma once
// The CLI's side of the admin API: one blocking HTTP/1.1 request per call.

#include <string>

namespace cohort::cli {

struct admin_target {
  std::string url = "http://127.0.0.1:9901";  // --admin
  std::string token;                          // --token-file or COHORT_ADMIN_TOKEN
};

struct admin_reply {
  bool reached = false;  // false: could not connect or the reply was unreadable
  std::string failure;   // why, when not reached
  unsigned status = 0;
  std::string body;
};

admin_reply call_admin(const admin_target& target, const std::string& method,
                       const std::string& path, const std::string& body = {});

}  // namespace cohort::cli
