#pragma once
// The parsers of each section of cohort.yaml (internal to the config module).
// Each reads one YAML subtree into the typed config, checks what it can see
// from there, and reports every problem to the context.

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/yaml_object.hpp"

namespace cohort::config::detail {

void parse_gateway(context& cx, const field& f, gateway_config& out);
void parse_admin(context& cx, const field& f, admin_config& out);
void parse_state(context& cx, const field& f, state_config& out);

void parse_services(context& cx, const field& f, std::vector<service_config>& out);

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
