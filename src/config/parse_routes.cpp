#include <algorithm>

#include "config/parsers.hpp"

namespace cohort::config::detail {

namespace {

void parse_route(context& cx, const YAML::Node& node, std::size_t index,
                 const std::vector<service_config>& services,
                 const std::vector<rollout_config>& rollouts, std::vector<route_config>& out) {
  object o(cx, node, label(node, "route", index), {"name", "match", "service"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  route_config r;
  r.where = o.where();
  o.require("name");
  o.require("service");
  const auto name = o.name("name");
  if (name) {
    r.name = *name;
    for (const auto& other : out) {
      if (other.name == r.name) {
        o.error(*o.find("name"),
                "name is already used by the route at line " + std::to_string(other.where.line));
      }
    }
  }
  if (const field* match = o.find("match")) {
    parse_match(cx, *match, o.what(), false, r.match);
  } else {
    r.match.where = r.where;
  }
  if (const auto service = o.text("service")) {
    r.service = *service;
    const auto it = std::find_if(services.begin(), services.end(),
                                 [&](const service_config& s) { return s.name == *service; });
    if (it == services.end()) {
      std::vector<std::string> names;
      for (const auto& s : services) {
        names.push_back(s.name);
      }
      o.error(*o.find("service"),
              "service '" + *service + "' is not defined" + did_you_mean(*service, names));
    } else {
      // Requests go to the "stable" subset unless a rollout on the service says
      // which subset plays stable (that rollout checks its own subsets).
      const bool has_stable =
          std::any_of(it->subsets.begin(), it->subsets.end(),
                      [](const subset_config& s) { return s.name == "stable"; }) ||
          std::any_of(rollouts.begin(), rollouts.end(),
                      [&](const rollout_config& ro) { return ro.service == *service; });
      if (!has_stable) {
        o.error(*o.find("service"), "service '" + *service +
                                        "' has no subset named 'stable' and no rollout names "
                                        "its stable subset");
      }
    }
  }
  if (name) {
    out.push_back(std::move(r));
  }
}

}  // namespace

void parse_routes(context& cx, const field& f, const std::vector<service_config>& services,
                  const std::vector<rollout_config>& rollouts, std::vector<route_config>& out) {
  const auto items = list_items(cx, "configuration", f);
  for (std::size_t i = 0; i < items.size(); ++i) {
    parse_route(cx, items[i], i, services, rollouts, out);
  }
}

}  // namespace cohort::config::detail
