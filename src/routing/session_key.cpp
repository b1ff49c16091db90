#include "routing/session_key.hpp"

#include "routing/jwt.hpp"

namespace cohort::routing {

std::optional<std::string_view> extract_user_key(const request_view& request,
                                                 const std::vector<compiled_key_source>& sources,
                                                 scratch_buffer& scratch) {
  field_values fields(request, nullptr);
  return extract_user_key(fields, sources, scratch);
}

std::optional<std::string_view> extract_user_key(field_values& fields,
                                                 const std::vector<compiled_key_source>& sources,
                                                 scratch_buffer& scratch) {
  const request_view& request = fields.request();
  for (const compiled_key_source& s : sources) {
    std::optional<std::string_view> key;
    switch (s.kind) {
      case config::key_source_kind::header:
        key = fields.header(s.slot, s.name);
        break;
      case config::key_source_kind::cookie:
        key = fields.cookie(s.slot, s.name);
        break;
      case config::key_source_kind::jwt_claim:
        if (const auto auth = fields.header(s.slot, "authorization")) {
          key = jwt_claim(*auth, s.name, scratch);
        }
        break;
      case config::key_source_kind::query:
        key = fields.query(s.slot, s.name);
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
