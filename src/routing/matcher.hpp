#pragma once
// Compiled request matchers: routes and cohorts share them. Everything that can
// be prepared is prepared when the snapshot is built (regexes compiled, ranges
// parsed, user lists hashed, names lower-cased), so matching a request only
// reads and compares views.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <re2/re2.h>

#include "config/config.hpp"
#include "routing/field_slots.hpp"
#include "routing/regex_literals.hpp"
#include "routing/request_view.hpp"
#include "routing/semver.hpp"

namespace cohort::routing {

enum class field_source : std::uint8_t { header, cookie, query };

struct compiled_field {
  field_source source = field_source::header;
  std::string name;
  config::match_kind kind = config::match_kind::present;
  std::string value;
  std::unique_ptr<RE2> regex;  // kind regex
  regex_literals regex_lits;   // what the regex's literal text decides without RE2
  semver_range range;          // kind semver
  bool invert = false;
  slot_index slot = no_slot;  // set by compiled_match::bind
};

// Heterogeneous lookup, so a string_view key finds a std::string without a copy.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using string_set = std::unordered_set<std::string, string_hash, std::equal_to<>>;

// The request's user key, computed at most once per decision and only when a
// matcher or the split needs it.
class user_key_source {
 public:
  virtual std::optional<std::string_view> user_key() = 0;

 protected:
  ~user_key_source() = default;
};

class compiled_match {
 public:
  // Every problem is appended to errors (as "what: why"); returns nothing then.
  static std::optional<compiled_match> compile(const config::request_match& m,
                                               std::vector<std::string>& errors);

  // Numbers the fields this match reads in the snapshot's catalog.
  void bind(field_catalog& catalog);

  // `users` needs the key; a null key source (routes) makes a users list false.
  bool matches(field_values& fields, user_key_source* key) const;
  bool matches(const request_view& request, user_key_source* key) const;

  // What a cohort plan flattens (routing/cohort_plan.hpp).
  const std::vector<compiled_field>& fields() const { return fields_; }
  const string_set& users() const { return users_; }
  bool has_users() const { return has_users_; }
  // Host, method or path conditions, which a plan leaves to matches().
  bool tests_request_line() const {
    return !host_.empty() || !methods_.empty() || path_exact_ || path_prefix_ || path_regex_;
  }

 private:
  std::string host_;  // lower case; for "*.example.com" the suffix ".example.com"
  bool host_suffix_ = false;
  std::optional<std::string> path_exact_;
  std::optional<std::string> path_prefix_;
  std::unique_ptr<RE2> path_regex_;
  regex_literals path_regex_lits_;
  std::vector<std::string> methods_;
  std::vector<compiled_field> fields_;  // cheap kinds first, regex and semver last
  std::size_t first_costly_ = 0;        // index of the first regex or semver field
  string_set users_;
  bool has_users_ = false;
  bool only_path_prefix_ = false;  // a path prefix and no other condition
};

// The host without its port: "Example.com:8080" -> "Example.com", "[::1]:80" -> "[::1]".
std::string_view strip_port(std::string_view host);

bool field_matches(const compiled_field& f, std::optional<std::string_view> value);

// RE2::FullMatch, answered from the pattern's literals when they decide.
bool regex_full_match(const RE2& re, const regex_literals& lits, std::string_view text);

}  // namespace cohort::routing
