#pragma once
// The user key of a request, from the first present source of a rollout's
// `session.key` list.

#include <optional>
#include <string_view>
#include <vector>

#include "routing/compiled.hpp"
#include "routing/field_slots.hpp"
#include "routing/request_view.hpp"
#include "routing/scratch.hpp"

namespace cohort::routing {

// An empty value counts as absent ("X-User-Id:" names nobody). The view points
// into the request or, for a JWT claim, into scratch.
std::optional<std::string_view> extract_user_key(const request_view& request,
                                                 const std::vector<compiled_key_source>& sources,
                                                 scratch_buffer& scratch);
// The same, reading the request through a decision's field table.
std::optional<std::string_view> extract_user_key(field_values& fields,
                                                 const std::vector<compiled_key_source>& sources,
                                                 scratch_buffer& scratch);

}  // namespace cohort::routing
