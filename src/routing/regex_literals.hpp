#pragma once
// What a regex's literal text alone decides. RE2 spends a few hundred
// instructions per call before it looks at the text; many cohort regexes are
// literal shapes (".*0$" is "ends with 0") or have a literal head or tail that
// rejects most values at once. The analysis is conservative: any construct it
// does not fully understand leaves the decision to RE2.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cohort::routing {

struct regex_literals {
  // The whole pattern is a literal with optional ".*" at either end: for text
  // that is ASCII without '\n' (what '.' in RE2's UTF-8 mode matches byte for
  // byte) a full match is exactly this comparison.
  enum class shape : std::uint8_t { none, exact, prefix, suffix, contains };
  shape whole = shape::none;
  std::string literal;  // for `whole`
  // Every full match starts with `head` and ends with `tail` (either may be empty).
  std::string head;
  std::string tail;
};

// The analysis of a pattern compiled with RE2's default options (UTF-8,
// case-sensitive, '.' not matching '\n', '^'/'$' at the text's ends).
regex_literals analyse_regex(std::string_view pattern);

// A full match decided from the literals, or nullopt when RE2 must decide.
std::optional<bool> match_by_literals(const regex_literals& lits, std::string_view text);

}  // namespace cohort::routing
