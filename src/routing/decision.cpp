#include "routing/decision.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <xxhash.h>

#include "routing/compiled.hpp"
#include "routing/field_slots.hpp"
#include "routing/session_key.hpp"

namespace cohort::routing {

namespace {

// The user key of one decision and its hash, extracted on first use.
class decision_key final : public cohort_key {
 public:
  decision_key(field_values& fields, const compiled_rollout& rollout)
      : fields_(fields), rollout_(rollout) {}

  std::optional<std::string_view> user_key() override {
    if (!done_) {
      done_ = true;
      const auto& sources = rollout_.key_sources;
      if (sources.size() == 1 && sources[0].kind == config::key_source_kind::header &&
          sources[0].slot != no_slot) {
        // The common rollout: one header names the user. No call, no loop.
        if (const auto v = fields_.header_at(sources[0].slot); v && !v->empty()) {
          key_ = v;
        }
      } else {
        key_ = extract_user_key(fields_, sources, scratch_);
      }
    }
    return key_;
  }
  std::optional<std::uint64_t> key_hash() override {
    if (!hashed_) {
      if (const auto k = user_key()) {
        hash_ = XXH3_64bits_withSeed(k->data(), k->size(), rollout_.seed);
      }
      hashed_ = true;
    }
    return key_ ? std::optional<std::uint64_t>(hash_) : std::nullopt;
  }

 private:
  field_values& fields_;
  const compiled_rollout& rollout_;
  scratch_buffer scratch_;
  std::optional<std::string_view> key_;
  std::uint64_t hash_ = 0;
  bool done_ = false;
  bool hashed_ = false;
};

// Canary [0, w), baseline [w, 2w) when there is one, stable the rest.
void split(decision& d, const compiled_rollout& r, std::uint32_t bucket) {
  d.bucket = bucket;
  const std::uint32_t w = r.weight;
  const std::uint32_t baseline_end = std::min<std::uint32_t>(2 * w, full_share);
  if (bucket < w) {
    d.subset = r.canary;
    d.kind = reason_kind::bucket_canary;
  } else if (r.baseline >= 0 && bucket < baseline_end) {
    d.subset = static_cast<std::uint32_t>(r.baseline);
    d.kind = reason_kind::baseline;
  } else {
    d.subset = r.stable;
    d.kind = reason_kind::bucket_stable;
  }
}

void hash_key(decision& d, std::string_view key, std::uint64_t seed) {
  d.has_key = true;
  d.key_hash = XXH3_64bits_withSeed(key.data(), key.size(), seed);
  d.bucket = static_cast<std::uint32_t>(d.key_hash % full_share);
}

void note_hash(decision& d, std::uint64_t hash) {
  d.has_key = true;
  d.key_hash = hash;
  d.bucket = static_cast<std::uint32_t>(hash % full_share);
}

constexpr std::string_view policy_name(config::anonymous_policy p) {
  switch (p) {
    case config::anonymous_policy::cookie:
      return "cookie";
    case config::anonymous_policy::random:
      return "random";
    case config::anonymous_policy::stable:
      return "stable";
  }
  return "stable";
}

void decide_anonymous(decision& d, field_values& fields, const compiled_rollout& r,
                      std::uint64_t random) {
  switch (r.anonymous) {
    case config::anonymous_policy::stable:
      d.kind = reason_kind::anonymous;
      d.subset = r.stable;
      d.name = policy_name(r.anonymous);
      return;
    case config::anonymous_policy::random:
      split(d, r, static_cast<std::uint32_t>(random % full_share));
      d.kind = reason_kind::anonymous;
      d.name = policy_name(r.anonymous);
      return;
    case config::anonymous_policy::cookie: {
      d.name = r.name;
      if (const auto cookie = fields.cookie(r.cookie_slot, r.cookie_name);
          cookie && !cookie->empty()) {
        hash_key(d, *cookie, r.seed);
        split(d, r, d.bucket);
        return;
      }
      // A new visitor: issue an id and place it exactly as its next request,
      // which carries the id in the cookie, will be placed.
      static constexpr char hex[] = "0123456789abcdef";
      for (std::size_t i = 0; i < d.new_anonymous_id.size(); ++i) {
        d.new_anonymous_id[i] = hex[(random >> (60 - 4 * i)) & 0xF];
      }
      d.new_anonymous_id_len = static_cast<std::uint8_t>(d.new_anonymous_id.size());
      hash_key(d, d.new_anonymous_id_view(), r.seed);
      split(d, r, d.bucket);
      return;
    }
  }
}

// Appends to a bounded buffer, truncating silently.
class writer {
 public:
  writer(char* buf, std::size_t n) : buf_(buf), n_(n) {}
  void put(std::string_view s) {
    const std::size_t k = std::min(s.size(), n_ - len_);
    if (k == 0) {
      return;  // buf may be null when n is 0
    }
    std::memcpy(buf_ + len_, s.data(), k);
    len_ += k;
  }
  void put(std::uint32_t v) {
    char digits[10];
    const auto r = std::to_chars(digits, digits + sizeof digits, v);
    put(std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)));
  }
  std::size_t size() const { return len_; }

 private:
  char* buf_;
  std::size_t n_;
  std::size_t len_ = 0;
};

}  // namespace

std::string_view reason_label(reason_kind k) {
  switch (k) {
    case reason_kind::no_route:
      return "no_route";
    case reason_kind::route:
      return "route";
    case reason_kind::cohort:
      return "cohort";
    case reason_kind::pin:
      return "pin";
    case reason_kind::bucket_canary:
    case reason_kind::bucket_stable:
    case reason_kind::baseline:
      return "bucket";
    case reason_kind::anonymous:
      return "anonymous";
    case reason_kind::rolled_back:
      return "rollback";
    case reason_kind::promoted:
      return "promoted";
  }
  return "no_route";
}

std::uint32_t bucket_of(std::string_view user_key, std::uint64_t seed) {
  return static_cast<std::uint32_t>(XXH3_64bits_withSeed(user_key.data(), user_key.size(), seed) %
                                    full_share);
}

std::size_t decision::format_reason(char* buf, std::size_t n) const {
  writer w(buf, n);
  switch (kind) {
    case reason_kind::no_route:
      w.put("no_route");
      break;
    case reason_kind::route:
      w.put("route:");
      w.put(name);
      break;
    case reason_kind::cohort:
      w.put("cohort:");
      w.put(name);
      break;
    case reason_kind::pin:
      w.put("pin:");
      w.put(name);
      break;
    case reason_kind::bucket_canary:
      w.put("bucket:");
      w.put(bucket);
      w.put("<");
      w.put(weight);
      break;
    case reason_kind::bucket_stable:
      w.put("bucket:");
      w.put(bucket);
      w.put(">=");
      w.put(weight);
      break;
    case reason_kind::baseline:
      w.put("baseline:");
      w.put(bucket);
      break;
    case reason_kind::anonymous:
      w.put("anonymous:");
      w.put(name);
      break;
    case reason_kind::rolled_back:
      w.put("rollback:");
      w.put(name);
      break;
    case reason_kind::promoted:
      w.put("promoted:");
      w.put(name);
      break;
  }
  if (failover_from >= 0) {
    w.put(",failover:");
    w.put(failover_from_name);
    w.put("->");
    w.put(failover_to_name);
  }
  return w.size();
}

std::string decision::reason() const {
  std::string out(80 + name.size() + failover_from_name.size() + failover_to_name.size(), '\0');
  out.resize(format_reason(out.data(), out.size()));
  return out;
}

target_shares shares_of(const rollout_state& state, bool has_baseline) {
  target_shares out;
  if (state.phase == rollout_state::mode::promoted) {
    out.canary = full_share;
  } else if (state.phase == rollout_state::mode::progressing) {
    out.canary = std::min(state.weight, full_share);
    if (has_baseline) {
      out.baseline = std::min<basis_points>(2 * out.canary, full_share) - out.canary;
    }
  }
  out.stable = full_share - out.canary - out.baseline;
  return out;
}

decision decide(const request_view& request, const snapshot& snap, std::uint64_t random) {
  decision d;
  field_values fields(request, &snap.fields());
  const auto& routes = snap.routes();
  const compiled_route* route = nullptr;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    if (routes[i]->match.matches(fields, nullptr)) {
      route = routes[i].get();
      d.route = static_cast<std::int32_t>(i);
      break;
    }
  }
  if (route == nullptr) {
    return d;
  }
  d.service = route->service;
  if (route->rollout < 0) {
    d.kind = reason_kind::route;
    d.subset = snap.services()[static_cast<std::size_t>(route->service)].stable_subset;
    d.name = route->name;
    return d;
  }
  const compiled_rollout& r = *snap.rollouts()[static_cast<std::size_t>(route->rollout)];
  d.rollout = route->rollout;
  d.weight = r.weight;
  decision_key key(fields, r);
  // The key's hash goes into every decision of the rollout, for the access
  // log, even when a cohort or the phase decides.
  const auto note_key = [&] {
    if (const auto h = key.key_hash()) {
      note_hash(d, *h);
    }
  };

  if (r.phase == rollout_state::mode::rolled_back) {
    note_key();
    d.kind = reason_kind::rolled_back;
    d.subset = r.stable;
    d.name = r.name;
    return d;
  }
  if (const std::int32_t matched = r.plan.first_match(fields, key); matched >= 0) {
    const compiled_cohort& c = r.cohorts[static_cast<std::size_t>(matched)];
    if (c.pin == config::pin_target::stable) {
      d.kind = reason_kind::pin;
      d.subset = r.stable;
    } else if (c.pin == config::pin_target::canary) {
      d.kind = reason_kind::pin;
      d.subset = r.canary;
    } else {
      // Added by a step (the plan holds no other cohort). With a baseline, the
      // upper half of the cohort's buckets is its control: a cohort step is then
      // judged against users of the same cohort, not against nobody.
      const auto h = key.key_hash();
      if (r.baseline >= 0 && h && *h % full_share >= full_share / 2) {
        note_hash(d, *h);
        d.kind = reason_kind::baseline;
        d.subset = static_cast<std::uint32_t>(r.baseline);
        d.name = c.name;
        return d;
      }
      d.kind = reason_kind::cohort;
      d.subset = r.canary;
    }
    note_key();
    d.name = c.name;
    return d;
  }
  if (r.phase == rollout_state::mode::promoted) {
    note_key();
    d.kind = reason_kind::promoted;
    d.subset = r.canary;
    d.name = r.name;
    return d;
  }
  if (const auto h = key.key_hash()) {
    note_hash(d, *h);
    split(d, r, d.bucket);
    d.name = r.name;
    return d;
  }
  decide_anonymous(d, fields, r, random);
  return d;
}

}  // namespace cohort::routing
