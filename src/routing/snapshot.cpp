#include "routing/snapshot.hpp"

#include <algorithm>

#include <xxhash.h>

#include "routing/compiled.hpp"

namespace cohort::routing {

namespace {

std::int32_t find_subset(const service& s, std::string_view name) {
  for (std::size_t i = 0; i < s.subsets.size(); ++i) {
    if (s.subsets[i].name == name) {
      return static_cast<std::int32_t>(i);
    }
  }
  return -1;
}

std::int32_t find_service(const std::vector<service>& services, std::string_view name) {
  for (std::size_t i = 0; i < services.size(); ++i) {
    if (services[i].name == name) {
      return static_cast<std::int32_t>(i);
    }
  }
  return -1;
}

void add_errors(config::diagnostics& out, const config::source_location& where,
                const std::string& prefix, const std::vector<std::string>& errors) {
  for (const std::string& e : errors) {
    out.push_back(config::diagnostic{where, prefix + ": " + e});
  }
}

}  // namespace

snapshot::~snapshot() = default;

result<std::shared_ptr<const snapshot>, config::diagnostics> snapshot::build(
    config::config cfg, const rollout_states& states) {
  // The constructor is private: make_shared cannot reach it.
  std::shared_ptr<snapshot> snap(new snapshot());
  snap->config_ = std::move(cfg);
  snap->states_ = states;
  snap->fields_ = std::make_unique<field_catalog>();
  field_catalog& fields = *snap->fields_;
  const config::config& c = snap->config_;
  config::diagnostics diags;

  for (const config::service_config& sc : c.services) {
    service s;
    s.name = sc.name;
    s.connect_timeout = sc.connect_timeout;
    s.request_timeout = sc.request_timeout;
    s.per_try_timeout = sc.per_try_timeout;
    s.lb = sc.lb;
    s.protocol = sc.protocol;
    s.failover = sc.failover;
    s.outlier = sc.outlier_detection;
    s.retries = sc.retries;
    s.breakers = sc.circuit_breakers;
    for (const config::subset_config& ssc : sc.subsets) {
      subset sub;
      sub.name = ssc.name;
      for (const host_port& hp : ssc.endpoints) {
        sub.endpoints.push_back(endpoint{hp, format_host_port(hp)});
      }
      s.subsets.push_back(std::move(sub));
    }
    const std::int32_t named_stable = find_subset(s, "stable");
    if (named_stable >= 0) {
      s.stable_subset = static_cast<std::uint32_t>(named_stable);
    } else {
      // A service whose stable subset has another name says so in its rollout.
      for (const config::rollout_config& rc : c.rollouts) {
        if (rc.service == sc.name) {
          s.stable_subset = static_cast<std::uint32_t>(std::max(0, find_subset(s, rc.stable)));
          break;
        }
      }
    }
    snap->services_.push_back(std::move(s));
  }

  for (const config::rollout_config& rc : c.rollouts) {
    auto r = std::make_unique<compiled_rollout>();
    r->name = rc.name;
    r->service = find_service(snap->services_, rc.service);
    const std::string where = "rollout '" + rc.name + "'";
    if (r->service < 0) {
      diags.push_back({rc.where, where + ": unknown service '" + rc.service + "'"});
    } else {
      const service& s = snap->services_[static_cast<std::size_t>(r->service)];
      const std::int32_t stable = find_subset(s, rc.stable);
      const std::int32_t canary = find_subset(s, rc.canary);
      if (stable < 0) {
        diags.push_back(
            {rc.where, where + ": service '" + s.name + "' has no subset '" + rc.stable + "'"});
      }
      if (canary < 0) {
        diags.push_back(
            {rc.where, where + ": service '" + s.name + "' has no subset '" + rc.canary + "'"});
      }
      r->stable = static_cast<std::uint32_t>(std::max(0, stable));
      r->canary = static_cast<std::uint32_t>(std::max(0, canary));
      if (!rc.baseline.empty()) {
        r->baseline = find_subset(s, rc.baseline);
        if (r->baseline < 0) {
          diags.push_back(
              {rc.where, where + ": service '" + s.name + "' has no subset '" + rc.baseline + "'"});
        }
      }
    }
    const std::string& seed_text = rc.salt.empty() ? rc.name : rc.salt;
    r->seed = XXH3_64bits(seed_text.data(), seed_text.size());
    for (const config::key_source& k : rc.session.key) {
      compiled_key_source source{k.kind, k.name};
      switch (k.kind) {
        case config::key_source_kind::header:
          source.slot = fields.add_header(k.name);
          break;
        case config::key_source_kind::cookie:
          source.slot = fields.add_cookie(k.name);
          break;
        case config::key_source_kind::jwt_claim:
          source.slot = fields.add_header("authorization");
          break;
        case config::key_source_kind::query:
          source.slot = fields.add_query(k.name);
          break;
        case config::key_source_kind::client_ip:
          break;
      }
      r->key_sources.push_back(std::move(source));
    }
    r->anonymous = rc.session.anonymous;
    r->cookie_name = rc.session.cookie_name;
    if (r->anonymous == config::anonymous_policy::cookie) {
      r->cookie_slot = fields.add_cookie(r->cookie_name);
    }
    for (const config::cohort_config& cc : rc.cohorts) {
      std::vector<std::string> errors;
      auto m = compiled_match::compile(cc.match, errors);
      if (!m) {
        add_errors(diags, cc.where, where + " cohort '" + cc.name + "'", errors);
        continue;
      }
      r->cohorts.push_back(compiled_cohort{cc.name, std::move(*m), cc.pin, false});
    }
    r->weight = rc.weight;
    if (const auto it = states.find(rc.name); it != states.end()) {
      const rollout_state& st = it->second;
      r->weight = st.weight;
      r->phase = st.phase;
      if (st.hold_canary_pins) {
        for (compiled_cohort& cohort : r->cohorts) {
          if (cohort.pin == config::pin_target::canary) {
            cohort.pin = config::pin_target::none;  // not joined either: out of the plan
          }
        }
      }
      for (const std::string& joined : st.joined_cohorts) {
        const auto cohort =
            std::find_if(r->cohorts.begin(), r->cohorts.end(),
                         [&](const compiled_cohort& x) { return x.name == joined; });
        if (cohort == r->cohorts.end()) {
          diags.push_back({rc.where, where + ": its state names cohort '" + joined +
                                         "', which the configuration does not define"});
          continue;
        }
        cohort->joined = true;
      }
    }
    // States for rollouts the file no longer has are left alone: the store outlives configs.
    r->weight = std::min(r->weight, full_share);
    // Only cohorts that can change a decision read request fields: the others'
    // names would only make every decision's header scan find more.
    for (compiled_cohort& cohort : r->cohorts) {
      if (cohort.pin != config::pin_target::none || cohort.joined) {
        cohort.match.bind(fields);
      }
    }
    r->plan = cohort_plan::build(r->cohorts, r->seed);
    snap->rollouts_.push_back(std::move(r));
  }

  for (const config::route_config& rc : c.routes) {
    auto route = std::make_unique<compiled_route>();
    route->name = rc.name;
    route->service = find_service(snap->services_, rc.service);
    const std::string where = "route '" + rc.name + "'";
    if (route->service < 0) {
      diags.push_back({rc.where, where + ": unknown service '" + rc.service + "'"});
    }
    for (std::size_t i = 0; i < c.rollouts.size(); ++i) {
      if (c.rollouts[i].service == rc.service) {
        route->rollout = static_cast<std::int32_t>(i);
        break;
      }
    }
    std::vector<std::string> errors;
    auto m = compiled_match::compile(rc.match, errors);
    if (!m) {
      add_errors(diags, rc.where, where, errors);
      continue;
    }
    m->bind(fields);
    route->match = std::move(*m);
    snap->routes_.push_back(std::move(route));
  }

  if (!diags.empty()) {
    return diags;
  }
  return std::shared_ptr<const snapshot>(std::move(snap));
}

}  // namespace cohort::routing
