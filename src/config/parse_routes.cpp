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
  const auto name = unique_name(o, out, "route");
  o.require("service");
  if (name) {
    r.name = *name;
  }
  if (const field* match = o.find("match")) {
    parse_match(cx, *match, o.what(), false, r.match);
  } else {
    r.match.where = r.where;
  }
  if (const service_config* service = find_service(o, services, r.service)) {
    // Requests go to the "stable" subset unless a rollout on the service says
    // which subset plays stable (that rollout checks its own subsets).
    const bool has_stable =
        std::any_of(service->subsets.begin(), service->subsets.end(),
                    [](const subset_config& s) { return s.name == "stable"; }) ||
        std::any_of(rollouts.begin(), rollouts.end(),
                    [&](const rollout_config& ro) { return ro.service == r.service; });
    if (!has_stable) {
      o.error(*o.find("service"), "service '" + r.service +
                                      "' has no subset named 'stable' and no rollout names "
                                      "its stable subset");
    }
  }
  if (name) {
    out.push_back(std::move(r));
  }
}

}  // namespace

const service_config* find_service(const object& o, const std::vector<service_config>& services,
                                   std::string& name) {
  const auto written = o.text("service");
  if (!written) {
    return nullptr;
  }
  name = *written;
  for (const auto& s : services) {
    if (s.name == name) {
      return &s;
    }
  }
  std::vector<std::string> names;
  for (const auto& s : services) {
    names.push_back(s.name);
  }
  o.error(*o.find("service"), "service '" + name + "' is not defined" + did_you_mean(name, names));
  return nullptr;
}

void parse_routes(context& cx, const field& f, const std::vector<service_config>& services,
                  const std::vector<rollout_config>& rollouts, std::vector<route_config>& out) {
  const auto items = list_items(cx, "configuration", f);
  for (std::size_t i = 0; i < items.size(); ++i) {
    parse_route(cx, items[i], i, services, rollouts, out);
  }
}

}  // namespace cohort::config::detail
