#pragma once
// The parsers of each section of cohort.yaml (internal to the config module).
// Each reads one YAML subtree into the typed config, checks what it can see
// from there, and reports every problem to the context.

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/yaml_object.hpp"

namespace cohort::config::detail {

// Reads the required "name" of an object that must differ from the names of
// the earlier objects of its list; nullopt when absent or bad (reported).
template <class T>
std::optional<std::string> unique_name(object& o, const std::vector<T>& earlier,
                                       std::string_view kind) {
  o.require("name");
  auto name = o.name("name");
  if (!name) {
    return name;
  }
  for (const auto& other : earlier) {
    if (other.name == *name) {
      o.error(*o.find("name"), "name is already used by the " + std::string(kind) + " at line " +
                                   std::to_string(other.where.line));
      break;
    }
  }
  return name;
}

// Reads the "service" key and finds it; nullptr when absent or not defined
// (reported, with a suggestion). The name as written goes to `name`.
const service_config* find_service(const object& o, const std::vector<service_config>& services,
                                   std::string& name);

void parse_gateway(context& cx, const field& f, gateway_config& out);
void parse_admin(context& cx, const field& f, admin_config& out);
void parse_state(context& cx, const field& f, state_config& out);

void parse_services(context& cx, const field& f, std::vector<service_config>& out);

// The tls: of a listener, and of a service; `what` names the owner in messages.
void parse_listener_tls(context& cx, const field& f, const std::string& what, tls_config& out);
void parse_upstream_tls(context& cx, const field& f, const std::string& what,
                        upstream_tls_config& out);

// Needs the services (to check the references) and the rollouts (a rollout may
// name the subset that plays "stable").
void parse_routes(context& cx, const field& f, const std::vector<service_config>& services,
                  const std::vector<rollout_config>& rollouts, std::vector<route_config>& out);

void parse_rollouts(context& cx, const field& f, const std::vector<service_config>& services,
                    std::vector<rollout_config>& out);

void parse_analysis(context& cx, const field& f, const std::string& what, analysis_config& out);

// The "match:" of a route (cohort = false) or of a cohort (adds cookies, query, users).
void parse_match(context& cx, const field& f, const std::string& what, bool cohort,
                 request_match& out);

}  // namespace cohort::config::detail
