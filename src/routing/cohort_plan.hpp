#pragma once
// A rollout's cohorts flattened, when the snapshot is built, into one array of
// conditions that a decision walks in a tight loop. Each condition reads one
// request field by slot and compares it with an operand prepared ahead;
// within a cohort the cheap tests come first, so a regex or a version range
// runs only when everything cheaper held. Cohorts that cannot change a
// decision (neither pinned nor added by a step) are left out: decide() would
// skip them after matching anyway.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "routing/field_slots.hpp"
#include "routing/matcher.hpp"

namespace cohort::routing {

struct compiled_cohort;  // routing/compiled.hpp

// The request's user key for one decision, with its XXH3 under the rollout's
// seed (what the decision hashes anyway), so a users list costs one compare.
class cohort_key : public user_key_source {
 public:
  // Present exactly when user_key() is.
  virtual std::optional<std::uint64_t> key_hash() = 0;

 protected:
  ~cohort_key() = default;
};

struct plan_condition {
  enum class test : std::uint8_t {
    present,  // absent is present inverted
    exact,
    prefix,
    suffix,
    regex,
    semver,
    users,
    whole_match,  // host, method or path tests, or a field without a slot: the matcher decides
  };
  test kind = test::present;
  field_source source = field_source::header;
  bool invert = false;
  slot_index slot = no_slot;
  std::uint32_t users_begin = 0;  // users: this range of the plan's user table
  std::uint32_t users_end = 0;
  std::string_view operand;  // exact, prefix, suffix; regex: the literal tail of every match
  std::string_view head;     // regex: the literal head of every match
  const compiled_field* field = nullptr;  // regex, semver
  const compiled_match* match = nullptr;  // whole_match
};

class cohort_plan {
 public:
  cohort_plan() = default;
  // The plan points into the cohorts it was built from: a copy would outlive them.
  cohort_plan(const cohort_plan&) = delete;
  cohort_plan& operator=(const cohort_plan&) = delete;
  cohort_plan(cohort_plan&&) = default;
  cohort_plan& operator=(cohort_plan&&) = default;

  // `cohorts` (with their final `joined` flags) must stay where they are for
  // the plan's life; `seed` is the rollout's hash seed.
  static cohort_plan build(const std::vector<compiled_cohort>& cohorts, std::uint64_t seed);

  // The index (in the cohorts the plan was built from) of the first cohort
  // with an effect whose conditions all hold, or -1.
  std::int32_t first_match(field_values& fields, cohort_key& key) const {
    return cohorts_.empty() ? -1 : evaluate(fields, key);
  }

  std::size_t cohort_count() const { return cohorts_.size(); }
  std::size_t condition_count() const { return conditions_.size(); }

 private:
  struct plan_cohort {
    std::uint32_t begin = 0;  // conditions [begin, end)
    std::uint32_t end = 0;
    std::int32_t cohort = 0;
  };
  struct user_entry {
    std::uint64_t hash = 0;
    std::string_view name;  // a node of the matcher's users set: its address is stable
  };
  std::int32_t evaluate(field_values& fields, cohort_key& key) const;
  bool holds(const plan_condition& c, field_values& fields, cohort_key& key) const;
  bool listed(const plan_condition& c, cohort_key& key) const;

  std::vector<plan_condition> conditions_;
  std::vector<plan_cohort> cohorts_;
  std::vector<user_entry> users_;  // by hash within each condition's range
};

}  // namespace cohort::routing
