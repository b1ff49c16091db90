#include <algorithm>

#include "config/loader.hpp"
#include "config/parsers.hpp"

namespace cohort::config::detail {

namespace {

void parse_key_source(context& cx, const YAML::Node& node, const std::string& what,
                      std::vector<key_source>& out) {
  object o(cx, node, what, {"header", "cookie", "jwt_claim", "query", "client_ip"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  if (o.fields().size() != 1) {
    o.error(
        "a key source is one of {header: NAME}, {cookie: NAME}, {jwt_claim: NAME}, "
        "{query: NAME}, {client_ip: true}");
    return;
  }
  const field& f = o.fields().front();
  key_source k;
  k.where = o.where();
  if (f.key == "client_ip") {
    k.kind = key_source_kind::client_ip;
    if (const auto b = o.boolean("client_ip"); b && !*b) {
      o.error(f, "client_ip must be true (leave it out instead)");
      return;
    }
    out.push_back(std::move(k));
    return;
  }
  const auto name = o.text(f.key);
  if (!name) {
    return;
  }
  if (f.key == "header" || f.key == "cookie") {
    if (!is_token(*name)) {
      o.error(f, "'" + *name + "' is not a valid " + f.key + " name");
      return;
    }
    k.kind = f.key == "header" ? key_source_kind::header : key_source_kind::cookie;
  } else if (f.key == "jwt_claim" || f.key == "query") {
    if (name->empty()) {
      o.error(f, f.key + " must name a " + (f.key == "query" ? "parameter" : "claim"));
      return;
    }
    k.kind = f.key == "query" ? key_source_kind::query : key_source_kind::jwt_claim;
  } else {
    return;  // an unknown key, already reported
  }
  k.name = *name;
  out.push_back(std::move(k));
}

void parse_session(context& cx, const field& f, const std::string& what, session_config& out) {
  object o(cx, f, what + " session", {"key", "anonymous", "cookie_name", "cookie_max_age"});
  o.check_keys();
  if (const field* key = o.find("key")) {
    const auto items = list_items(cx, o.what(), *key);
    for (std::size_t i = 0; i < items.size(); ++i) {
      parse_key_source(cx, items[i], o.what() + " key " + std::to_string(i + 1), out.key);
    }
  }
  if (const auto a =
          o.choice<anonymous_policy>("anonymous", {{"cookie", anonymous_policy::cookie},
                                                   {"random", anonymous_policy::random},
                                                   {"stable", anonymous_policy::stable}})) {
    out.anonymous = *a;
  }
  if (const auto name = o.text("cookie_name")) {
    if (!is_token(*name)) {
      o.error(*o.find("cookie_name"), "cookie_name '" + *name + "' is not a valid cookie name");
    } else {
      out.cookie_name = *name;
    }
  }
  if (const auto d = o.positive_duration("cookie_max_age")) {
    out.cookie_max_age = *d;
  }
}

void parse_cohort(context& cx, const YAML::Node& node, const std::string& what, std::size_t index,
                  std::vector<cohort_config>& out) {
  object o(cx, node, what + " " + label(node, "cohort", index), {"name", "match", "pin"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  cohort_config c;
  c.where = o.where();
  const auto name = unique_name(o, out, "cohort");
  if (name) {
    c.name = *name;
  }
  if (const field* match = o.require("match")) {
    if (match->value.IsNull() || (match->value.IsMap() && match->value.size() == 0)) {
      o.error(*match, "match has no condition, so it would take every request");
    } else {
      parse_match(cx, *match, o.what(), true, c.match);
    }
  }
  if (const auto pin = o.choice<pin_target>(
          "pin", {{"canary", pin_target::canary}, {"stable", pin_target::stable}})) {
    c.pin = *pin;
  }
  if (name) {
    out.push_back(std::move(c));
  }
}

void parse_steps(context& cx, const field& f, const std::string& what, rollout_config& r) {
  const auto items = list_items(cx, what, f);
  // The highest weight so far and its step number: a later step may not go below it.
  std::optional<basis_points> top_weight;
  std::size_t top_weight_step = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string step_what = what + " step " + std::to_string(i + 1);
    object o(cx, items[i], step_what, {"cohort", "weight", "pause"});
    o.check_keys();
    if (!o.is_map()) {
      continue;
    }
    if (o.fields().size() != 1) {
      o.error("a step is one of {cohort: NAME}, {weight: SHARE}, {pause: manual or a duration}");
      continue;
    }
    const field& entry = o.fields().front();
    step_config s;
    s.where = o.where();
    if (entry.key == "cohort") {
      s.kind = step_kind::cohort;
      const auto name = o.text("cohort");
      if (!name) {
        continue;
      }
      s.cohort = *name;
      const auto cohort = std::find_if(r.cohorts.begin(), r.cohorts.end(),
                                       [&](const cohort_config& c) { return c.name == *name; });
      if (cohort == r.cohorts.end()) {
        std::vector<std::string> names;
        for (const auto& c : r.cohorts) {
          names.push_back(c.name);
        }
        o.error(entry, "cohort '" + *name + "' is not defined" + did_you_mean(*name, names));
        continue;
      }
      if (cohort->pin != pin_target::none) {
        o.error(entry, "cohort '" + *name + "' is pinned to " +
                           (cohort->pin == pin_target::canary ? "canary" : "stable") +
                           ", so a step cannot add it");
        continue;
      }
      for (std::size_t j = 0; j < r.steps.size(); ++j) {
        if (r.steps[j].kind == step_kind::cohort && r.steps[j].cohort == *name) {
          o.error(entry, "cohort '" + *name + "' was already added by the step at line " +
                             std::to_string(r.steps[j].where.line));
          break;
        }
      }
    } else if (entry.key == "weight") {
      s.kind = step_kind::weight;
      const auto bp = o.share("weight");
      if (!bp) {
        continue;
      }
      s.weight = *bp;
      if (top_weight && s.weight < *top_weight) {
        o.error(entry, "weight " + format_share(s.weight) + " is below the " +
                           format_share(*top_weight) + " of step " +
                           std::to_string(top_weight_step) + "; the population only grows");
      } else {
        top_weight = s.weight;
        top_weight_step = i + 1;
      }
    } else if (entry.key == "pause") {
      s.kind = step_kind::pause;
      const auto text = o.text("pause");
      if (!text) {
        continue;
      }
      if (*text != "manual") {
        const auto d = parse_duration(*text);
        if (!d || d->count() == 0) {
          o.error(entry, "pause '" + *text + "' is not manual or a duration (like 10m)");
          continue;
        }
        s.pause = *d;
      }
    } else {
      continue;  // an unknown key, already reported
    }
    r.steps.push_back(std::move(s));
  }
}

void parse_webhook(context& cx, const YAML::Node& node, const std::string& what, std::size_t index,
                   std::vector<webhook_config>& out) {
  object o(cx, node, what + " " + label(node, "webhook", index),
           {"type", "url", "timeout", "name"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  webhook_config w;
  w.where = o.where();
  o.require("type");
  o.require("url");
  const auto type =
      o.choice<webhook_type>("type", {{"confirm-rollout", webhook_type::confirm_rollout},
                                      {"pre-rollout", webhook_type::pre_rollout},
                                      {"rollout", webhook_type::rollout},
                                      {"confirm-promotion", webhook_type::confirm_promotion},
                                      {"post-rollout", webhook_type::post_rollout},
                                      {"rollback", webhook_type::rollback},
                                      {"event", webhook_type::event}});
  if (type) {
    w.type = *type;
    w.name = std::string(to_string(*type));
  }
  if (const auto url = o.text("url")) {
    constexpr std::string_view scheme = "http://";
    if (!url->starts_with(scheme) || url->size() == scheme.size()) {
      o.error(*o.find("url"), "url '" + *url + "' is not an http:// URL");
    }
    w.url = *url;
  }
  if (const auto d = o.positive_duration("timeout")) {
    w.timeout = *d;
  }
  if (const auto name = o.name("name")) {
    w.name = *name;
  }
  out.push_back(std::move(w));
}

// The subsets a rollout plays with must exist and be different.
void check_subsets(const object& o, const service_config& service, rollout_config& r) {
  struct role {
    std::string_view key;
    const std::string* subset;
  };
  std::vector<role> roles = {{"stable", &r.stable}, {"canary", &r.canary}};
  if (!r.baseline.empty()) {
    roles.push_back({"baseline", &r.baseline});
  }
  std::vector<std::string> names;
  for (const auto& s : service.subsets) {
    names.push_back(s.name);
  }
  for (std::size_t i = 0; i < roles.size(); ++i) {
    const std::string& subset = *roles[i].subset;
    const field* f = o.find(roles[i].key);
    if (std::find(names.begin(), names.end(), subset) == names.end()) {
      const std::string problem = "service '" + service.name + "' has no subset '" + subset + "'" +
                                  did_you_mean(subset, names);
      if (f != nullptr) {
        o.error(*f, std::string(roles[i].key) + ": " + problem);
      } else {
        o.error(problem + " (name the " + std::string(roles[i].key) + " subset with " +
                std::string(roles[i].key) + ":)");
      }
      continue;
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (*roles[j].subset == subset) {
        const std::string problem = std::string(roles[j].key) + " and " +
                                    std::string(roles[i].key) + " are both subset '" + subset + "'";
        if (f != nullptr) {
          o.error(*f, problem);
        } else {
          o.error(problem);
        }
      }
    }
  }
}

void parse_rollout(context& cx, const YAML::Node& node, std::size_t index,
                   const std::vector<service_config>& services, std::vector<rollout_config>& out) {
  object o(cx, node, label(node, "rollout", index),
           {"name", "service", "stable", "canary", "baseline", "revision", "salt", "session",
            "cohorts", "weight", "steps", "analysis", "webhooks", "promotion"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  rollout_config r;
  r.where = o.where();
  const auto name = unique_name(o, out, "rollout");
  o.require("service");
  if (name) {
    r.name = *name;
  }
  const service_config* service = find_service(o, services, r.service);
  if (service != nullptr) {
    for (const auto& other : out) {
      if (other.service == r.service) {
        o.error(*o.find("service"), "service '" + r.service + "' already has rollout '" +
                                        other.name + "' (line " + std::to_string(other.where.line) +
                                        ")");
      }
    }
  }
  bool subsets_ok = true;
  for (const auto& [key, target] : {std::pair{"stable", &r.stable}, std::pair{"canary", &r.canary},
                                    std::pair{"baseline", &r.baseline}}) {
    if (o.find(key) != nullptr) {
      if (const auto subset = o.name(key)) {
        *target = *subset;
      } else {
        subsets_ok = false;
      }
    }
  }
  if (service != nullptr && subsets_ok) {
    check_subsets(o, *service, r);
  }
  if (const auto revision = o.text("revision")) {
    r.revision = *revision;
  }
  if (const auto salt = o.text("salt")) {
    r.salt = *salt;
  }
  if (const field* session = o.find("session")) {
    parse_session(cx, *session, o.what(), r.session);
  }
  if (const field* cohorts = o.find("cohorts")) {
    const auto items = list_items(cx, o.what(), *cohorts);
    for (std::size_t i = 0; i < items.size(); ++i) {
      parse_cohort(cx, items[i], o.what(), i, r.cohorts);
    }
  }
  if (const auto weight = o.share("weight")) {
    r.weight = *weight;
  }
  if (const field* steps = o.find("steps")) {
    parse_steps(cx, *steps, o.what(), r);
  }
  if (const field* analysis = o.find("analysis")) {
    parse_analysis(cx, *analysis, o.what(), r.analysis);
  }
  if (const field* webhooks = o.find("webhooks")) {
    const auto items = list_items(cx, o.what(), *webhooks);
    for (std::size_t i = 0; i < items.size(); ++i) {
      parse_webhook(cx, items[i], o.what(), i, r.webhooks);
    }
  }
  if (const auto p = o.choice<promotion_mode>(
          "promotion", {{"auto", promotion_mode::automatic}, {"manual", promotion_mode::manual}})) {
    r.promotion = *p;
  }
  if (name) {
    out.push_back(std::move(r));
  }
}

}  // namespace

void parse_rollouts(context& cx, const field& f, const std::vector<service_config>& services,
                    std::vector<rollout_config>& out) {
  const auto items = list_items(cx, "configuration", f);
  for (std::size_t i = 0; i < items.size(); ++i) {
    parse_rollout(cx, items[i], i, services, out);
  }
}

}  // namespace cohort::config::detail
