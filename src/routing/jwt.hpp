#pragma once
// A claim of a JWT bearer token, read WITHOUT verifying the signature. Good
// enough to pick a subset (a forged `sub` only moves the forger), never for
// authorisation.

#include <optional>
#include <string_view>

#include "routing/scratch.hpp"

namespace cohort::routing {

// base64url (padding and the standard alphabet's '+' '/' tolerated) -> bytes in out;
// returns the decoded length or nullopt. out must hold (in.size() * 3) / 4 + 3 bytes.
std::optional<std::size_t> base64url_decode(std::string_view in, char* out);

// From an Authorization header value "Bearer <header>.<payload>.<signature>":
// the top-level claim of the payload as text: a string (JSON escapes
// resolved) or a number as written. nullopt for any other shape. The view
// points into scratch.
std::optional<std::string_view> jwt_claim(std::string_view authorization, std::string_view claim,
                                          scratch_buffer& scratch);

// The same on a bare JSON object text (exposed for tests). Unescapes in place.
std::optional<std::string_view> json_top_level_claim(char* json, std::size_t len,
                                                     std::string_view claim);

}  // namespace cohort::routing
