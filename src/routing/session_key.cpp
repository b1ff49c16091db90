#include "routing/session_key.hpp"

#include "routing/jwt.hpp"
#include "routing/request_fields.hpp"

namespace cohort::routing {

std::optional<std::string_view> extract_user_key(const request_view& request,
                                                 const std::vector<compiled_key_source>& sources,
                                                 scratch_buffer& scratch) {
  for (const compiled_key_source& s : sources) {
    std::optional<std::string_view> key;
    switch (s.kind) {
      case config::key_source_kind::header:
        key = find_header(request, s.name);
        break;
      case config::key_source_kind::cookie:
        key = find_cookie(request, s.name);
        break;
      case config::key_source_kind::jwt_claim:
        if (const auto auth = find_header(request, "authorization")) {
          key = jwt_claim(*auth, s.name, scratch);
        }
        break;
      case config::key_source_kind::query:
        key = find_query_param(request.query, s.name);
        break;
      case config::key_source_kind::client_ip:
        key = request.client_ip;
        break;
    }
    if (key && !key->empty()) {
      return key;
    }
  }
  return std::nullopt;
}

}  // namespace cohort::routing
