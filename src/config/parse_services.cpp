#include "config/parsers.hpp"

namespace cohort::config::detail {

namespace {

void parse_subset(context& cx, const std::string& service_what, const YAML::Node& key,
                  const YAML::Node& value, service_config& service) {
  subset_config subset;
  subset.where = cx.where(key);
  subset.name = key.IsScalar() ? key.Scalar() : std::string();
  if (!is_name(subset.name)) {
    cx.error(key, service_what + ": subset name '" + subset.name +
                      "' may only contain letters, digits, '-', '_' and '.'");
    return;
  }
  for (const auto& other : service.subsets) {
    if (other.name == subset.name) {
      cx.error(key, service_what + ": subset '" + subset.name + "' is repeated (first at line " +
                        std::to_string(other.where.line) + ")");
      return;
    }
  }
  object o(cx, field{subset.name, key, value}, service_what + " subset '" + subset.name + "'",
           {"endpoints"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  if (const field* endpoints = o.require("endpoints")) {
    const auto items = list_items(cx, o.what(), *endpoints);
    for (const auto& item : items) {
      const auto hp = item.IsScalar() ? parse_host_port(item.Scalar()) : std::nullopt;
      if (!hp) {
        cx.error(item, o.what() + ": endpoint '" + (item.IsScalar() ? item.Scalar() : "") +
                           "' is not host:port (like 127.0.0.1:9001)");
      } else if (hp->port == 0) {
        cx.error(item, o.what() + ": endpoint '" + item.Scalar() + "' needs a port (1..65535)");
      } else {
        subset.endpoints.push_back(*hp);
      }
    }
    if (items.empty() && (endpoints->value.IsNull() || endpoints->value.IsSequence())) {
      o.error(*endpoints, "endpoints must list at least one host:port");
    }
  }
  service.subsets.push_back(std::move(subset));
}

void parse_service(context& cx, const YAML::Node& node, std::size_t index,
                   std::vector<service_config>& out) {
  object o(cx, node, label(node, "service", index),
           {"name", "subsets", "connect_timeout", "request_timeout", "lb"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  service_config s;
  s.where = o.where();
  const auto name = unique_name(o, out, "service");
  if (name) {
    s.name = *name;
  }
  if (const field* subsets = o.require("subsets")) {
    if (subsets->value.IsMap()) {
      for (auto it = subsets->value.begin(); it != subsets->value.end(); ++it) {
        parse_subset(cx, o.what(), it->first, it->second, s);
      }
    }
    if (subsets->value.IsNull() || (subsets->value.IsMap() && subsets->value.size() == 0)) {
      o.error(*subsets, "subsets must name at least one subset");
    } else if (!subsets->value.IsMap()) {
      o.error(*subsets, "subsets must be a map of subset names to {endpoints: [...]}");
    }
  }
  if (const auto d = o.positive_duration("connect_timeout")) {
    s.connect_timeout = *d;
  }
  if (const auto d = o.positive_duration("request_timeout")) {
    s.request_timeout = *d;
  }
  if (const auto lb = o.choice<lb_policy>("lb", {{"least_request", lb_policy::least_request},
                                                 {"round_robin", lb_policy::round_robin}})) {
    s.lb = *lb;
  }
  if (name) {
    out.push_back(std::move(s));
  }
}

}  // namespace

void parse_services(context& cx, const field& f, std::vector<service_config>& out) {
  const auto items = list_items(cx, "configuration", f);
  for (std::size_t i = 0; i < items.size(); ++i) {
    parse_service(cx, items[i], i, out);
  }
}

}  // namespace cohort::config::detail
