#include "routing/cohort_plan.hpp"

#include <algorithm>
#include <cstring>

#include <xxhash.h>

#include "routing/compiled.hpp"

namespace cohort::routing {

namespace {

using test = plan_condition::test;

// Cheaper first. Header tests read the table filled by one pass over the
// headers; cookie and query tests may cost a parse of their own the first time.
int rank(const plan_condition& c) {
  switch (c.kind) {
    case test::present:
    case test::exact:
    case test::prefix:
    case test::suffix:
      return c.source == field_source::header ? 0 : 1;
    case test::users:
      return 2;
    case test::semver:
      return 3;
    case test::regex:
      return 4;
    case test::whole_match:
      return 5;
  }
  return 5;
}

std::optional<plan_condition> flatten(const compiled_field& f) {
  if (f.slot == no_slot) {
    return std::nullopt;
  }
  plan_condition c;
  c.source = f.source;
  c.slot = f.slot;
  c.invert = f.invert;
  switch (f.kind) {
    case config::match_kind::present:
      c.kind = test::present;
      break;
    case config::match_kind::absent:
      c.kind = test::present;
      c.invert = !f.invert;
      break;
    case config::match_kind::exact:
      c.kind = test::exact;
      c.operand = f.value;
      break;
    case config::match_kind::prefix:
      c.kind = test::prefix;
      c.operand = f.value;
      break;
    case config::match_kind::suffix:
      c.kind = test::suffix;
      c.operand = f.value;
      break;
    case config::match_kind::regex:
      if (!f.regex) {
        return std::nullopt;
      }
      c.kind = test::regex;
      c.field = &f;
      c.operand = f.regex_lits.tail;
      c.head = f.regex_lits.head;
      break;
    case config::match_kind::semver:
      c.kind = test::semver;
      c.field = &f;
      break;
  }
  return c;
}

std::uint64_t load8(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

std::uint32_t load4(const char* p) {
  std::uint32_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// n bytes equal, inline: operands are short, and a call to memcmp costs more
// than comparing them.
bool same_bytes(const char* a, const char* b, std::size_t n) {
  if (n >= 8) {
    for (std::size_t i = 0; i + 8 < n; i += 8) {
      if (load8(a + i) != load8(b + i)) {
        return false;
      }
    }
    return load8(a + n - 8) == load8(b + n - 8);
  }
  if (n >= 4) {
    return load4(a) == load4(b) && load4(a + n - 4) == load4(b + n - 4);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) {
      return false;
    }
  }
  return true;
}

bool starts_with(std::string_view v, std::string_view lit) {
  return v.size() >= lit.size() && same_bytes(v.data(), lit.data(), lit.size());
}

bool ends_with(std::string_view v, std::string_view lit) {
  return v.size() >= lit.size() &&
         same_bytes(v.data() + v.size() - lit.size(), lit.data(), lit.size());
}

}  // namespace

cohort_plan cohort_plan::build(const std::vector<compiled_cohort>& cohorts, std::uint64_t seed) {
  cohort_plan plan;
  for (std::size_t i = 0; i < cohorts.size(); ++i) {
    const compiled_cohort& cohort = cohorts[i];
    if (cohort.pin == config::pin_target::none && !cohort.joined) {
      continue;  // matching it changes nothing
    }
    const compiled_match& m = cohort.match;
    std::vector<plan_condition> conds;
    bool whole = m.tests_request_line();
    for (const compiled_field& f : m.fields()) {
      if (whole) {
        break;
      }
      if (auto c = flatten(f)) {
        conds.push_back(*c);
      } else {
        whole = true;
      }
    }
    if (!whole && m.has_users()) {
      plan_condition c;
      c.kind = test::users;
      c.users_begin = static_cast<std::uint32_t>(plan.users_.size());
      for (const std::string& user : m.users()) {
        plan.users_.push_back({XXH3_64bits_withSeed(user.data(), user.size(), seed), user});
      }
      c.users_end = static_cast<std::uint32_t>(plan.users_.size());
      std::sort(plan.users_.begin() + c.users_begin, plan.users_.end(),
                [](const user_entry& a, const user_entry& b) { return a.hash < b.hash; });
      conds.push_back(c);
    }
    if (whole) {
      conds.clear();
      plan_condition c;
      c.kind = test::whole_match;
      c.match = &m;
      conds.push_back(c);
    }
    std::stable_sort(
        conds.begin(), conds.end(),
        [](const plan_condition& a, const plan_condition& b) { return rank(a) < rank(b); });
    plan_cohort pc;
    pc.begin = static_cast<std::uint32_t>(plan.conditions_.size());
    plan.conditions_.insert(plan.conditions_.end(), conds.begin(), conds.end());
    pc.end = static_cast<std::uint32_t>(plan.conditions_.size());
    pc.cohort = static_cast<std::int32_t>(i);
    plan.cohorts_.push_back(pc);
  }
  return plan;
}

bool cohort_plan::listed(const plan_condition& c, cohort_key& key) const {
  const auto k = key.user_key();
  if (!k) {
    return false;
  }
  const std::uint64_t h = *key.key_hash();
  const user_entry* first = users_.data() + c.users_begin;
  const user_entry* last = users_.data() + c.users_end;
  if (last - first > 8) {
    first = std::lower_bound(first, last, h,
                             [](const user_entry& e, std::uint64_t v) { return e.hash < v; });
  }
  for (; first != last && first->hash <= h; ++first) {
    if (first->hash == h && first->name == *k) {
      return true;
    }
  }
  return false;
}

namespace {

// Inlined into holds(), and holds() into evaluate(): one function with one
// prologue walks the whole plan (a call per condition cost ~25 instructions).
[[gnu::always_inline]] inline bool value_holds(const plan_condition& c, std::string_view v,
                                               field_values& fields) {
  switch (c.kind) {
    case test::present:
      return true;
    case test::exact:
      return v.size() == c.operand.size() && same_bytes(v.data(), c.operand.data(), v.size());
    case test::prefix:
      return starts_with(v, c.operand);
    case test::suffix:
      return ends_with(v, c.operand);
    case test::regex:
      // Most values are rejected by the literal head or tail, without a call.
      return ends_with(v, c.operand) && starts_with(v, c.head) &&
             regex_full_match(*c.field->regex, c.field->regex_lits, v);
    case test::semver:
      if (c.source == field_source::header) {
        // Several cohorts may test one version header: parse it once.
        const auto parsed = fields.header_semver(c.slot, v);
        return parsed && satisfies(*parsed, c.field->range);
      } else {
        const auto parsed = parse_semver(v);
        return parsed && satisfies(*parsed, c.field->range);
      }
    case test::users:
    case test::whole_match:
      break;
  }
  return false;
}

}  // namespace

[[gnu::always_inline]] inline bool cohort_plan::holds(const plan_condition& c, field_values& fields,
                                                      cohort_key& key) const {
  std::optional<std::string_view> value;
  switch (c.source) {
    case field_source::header:
      // Users and whole-match conditions carry the default source, header.
      if (c.kind == test::users) {
        return listed(c, key);
      }
      if (c.kind == test::whole_match) {
        return c.match->matches(fields, &key);
      }
      value = fields.header_at(c.slot);
      break;
    case field_source::cookie:
      value = fields.cookie_at(c.slot);
      break;
    case field_source::query:
      value = fields.query_at(c.slot);
      break;
  }
  const bool result = value && value_holds(c, *value, fields);
  return result != c.invert;
}

std::int32_t cohort_plan::evaluate(field_values& fields, cohort_key& key) const {
  const plan_condition* conds = conditions_.data();
  for (const plan_cohort& pc : cohorts_) {
    std::uint32_t i = pc.begin;
    while (i < pc.end && holds(conds[i], fields, key)) {
      ++i;
    }
    if (i == pc.end) {
      return pc.cohort;
    }
  }
  return -1;
}

}  // namespace cohort::routing
