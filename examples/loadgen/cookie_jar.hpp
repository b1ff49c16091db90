#pragma once
// A minimal per-user cookie jar: enough for the gateway's anonymous-user cookie.
// Keeps name=value pairs from Set-Cookie, drops a cookie on Max-Age<=0 and sends
// them back in one Cookie header. Domain and path are not checked: one target.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cohort::loadgen {

class cookie_jar {
 public:
  // One Set-Cookie field value: "name=value; Path=/; Max-Age=86400".
  void store(std::string_view set_cookie);
  // "a=1; b=2", empty when the jar is empty.
  std::string header() const;
  bool empty() const { return cookies_.empty(); }
  std::size_t size() const { return cookies_.size(); }

 private:
  std::vector<std::pair<std::string, std::string>> cookies_;
};

}  // namespace cohort::loadgen
