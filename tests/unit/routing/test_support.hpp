#pragma once
// Builders for routing tests: a request that owns its bytes, and configs written
// as values (the YAML loader is tested on its own).

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "routing/decision.hpp"
#include "routing/request_view.hpp"
#include "routing/snapshot.hpp"

namespace cohort::routing::testing {

class fake_request {
 public:
  fake_request& method(std::string m) {
    method_ = std::move(m);
    return *this;
  }
  fake_request& path(std::string p) {
    path_ = std::move(p);
    return *this;
  }
  fake_request& query(std::string q) {
    query_ = std::move(q);
    return *this;
  }
  fake_request& host(std::string h) {
    host_ = std::move(h);
    return *this;
  }
  fake_request& client_ip(std::string ip) {
    client_ip_ = std::move(ip);
    return *this;
  }
  fake_request& header(std::string name, std::string value) {
    storage_.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  // The views are rebuilt on each call, so a copied request views its own bytes.
  request_view view() const {
    fields_.clear();
    for (const auto& [name, value] : storage_) {
      fields_.push_back(header_field{name, value});
    }
    return request_view{method_, path_, query_, host_, fields_, client_ip_};
  }
  operator request_view() const { return view(); }

 private:
  std::string method_ = "GET";
  std::string path_ = "/profile";
  std::string query_;
  std::string host_ = "api.example.com";
  std::string client_ip_;
  std::vector<std::pair<std::string, std::string>> storage_;
  mutable std::vector<header_field> fields_;
};

inline config::field_match field(std::string name, config::match_kind kind, std::string value = {},
                                 bool invert = false) {
  config::field_match f;
  f.name = std::move(name);
  f.kind = kind;
  f.value = std::move(value);
  f.invert = invert;
  return f;
}

inline config::key_source key_from(config::key_source_kind kind, std::string name = {}) {
  config::key_source k;
  k.kind = kind;
  k.name = std::move(name);
  return k;
}

inline config::cohort_config cohort(std::string name, config::request_match match,
                                    config::pin_target pin = config::pin_target::none) {
  config::cohort_config c;
  c.name = std::move(name);
  c.match = std::move(match);
  c.pin = pin;
  return c;
}

inline config::request_match header_match(config::field_match f) {
  config::request_match m;
  m.headers.push_back(std::move(f));
  return m;
}

// One service profile-api with stable / baseline / canary subsets, one route
// on /profile, and (unless with_rollout is false) the rollout "profile-api"
// keyed by X-User-Id, with no cohorts.
inline config::config base_config(bool with_rollout = true, bool with_baseline = true) {
  config::config c;
  c.source_file = "test.yaml";
  config::service_config s;
  s.name = "profile-api";
  s.subsets.push_back({"stable", {{"127.0.0.1", 9001}, {"127.0.0.1", 9002}}, {}});
  s.subsets.push_back({"baseline", {{"127.0.0.1", 9003}}, {}});
  s.subsets.push_back({"canary", {{"127.0.0.1", 9101}}, {}});
  c.services.push_back(s);
  config::route_config r;
  r.name = "profile";
  r.match.path_prefix = "/profile";
  r.service = "profile-api";
  c.routes.push_back(r);
  if (with_rollout) {
    config::rollout_config ro;
    ro.name = "profile-api";
    ro.service = "profile-api";
    if (with_baseline) {
      ro.baseline = "baseline";
    }
    ro.session.key.push_back(key_from(config::key_source_kind::header, "X-User-Id"));
    c.rollouts.push_back(ro);
  }
  return c;
}

inline std::shared_ptr<const snapshot> build_ok(config::config c,
                                                const rollout_states& states = {}) {
  auto r = snapshot::build(std::move(c), states);
  if (!r.ok()) {
    for (const auto& d : r.err()) {
      ADD_FAILURE() << "diagnostic: " << d.message;
    }
    return nullptr;
  }
  return std::move(r).value();
}

inline rollout_states state_of(std::string rollout, basis_points weight,
                               rollout_state::mode phase = rollout_state::mode::progressing,
                               std::vector<std::string> joined = {}) {
  rollout_states s;
  s[std::move(rollout)] = rollout_state{phase, weight, std::move(joined)};
  return s;
}

inline std::string subset_of(const snapshot& snap, const decision& d) {
  return snap.services().at(static_cast<std::size_t>(d.service)).subsets.at(d.subset).name;
}

// Unpadded base64url, for building JWTs in tests.
inline std::string base64url(std::string_view in) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(acc >> bits) & 0x3F]);
    }
  }
  if (bits > 0) {
    out.push_back(alphabet[(acc << (6 - bits)) & 0x3F]);
  }
  return out;
}

inline std::string bearer(std::string_view payload_json) {
  return "Bearer " + base64url(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url(payload_json) +
         ".c2lnbmF0dXJl";
}

}  // namespace cohort::routing::testing
