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

void parse_outlier(context& cx, const std::string& service_what, const field& f,
                   outlier_config& out) {
  object o(cx, f, service_what + " outlier_detection",
           {"consecutive_errors", "base_ejection", "max_ejection_percent"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  out.enabled = true;
  out.where = o.where();
  if (const auto n = o.count("consecutive_errors", 1, 1000)) {
    out.consecutive_errors = static_cast<std::uint32_t>(*n);
  }
  if (const auto d = o.positive_duration("base_ejection")) {
    out.base_ejection = *d;
  }
  if (const auto share = o.share("max_ejection_percent")) {
    out.max_ejection = *share;
  }
}

void parse_retries(context& cx, const std::string& service_what, const field& f,
                   retry_config& out) {
  object o(cx, f, service_what + " retries", {"enabled", "to_stable", "budget", "min_concurrency"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  out.where = o.where();
  if (const auto b = o.boolean("enabled")) {
    out.enabled = *b;
  }
  if (const auto b = o.boolean("to_stable")) {
    out.to_stable = *b;
  }
  if (const auto share = o.share("budget")) {
    out.budget = *share;
  }
  if (const auto n = o.count("min_concurrency", 0, 1000000)) {
    out.min_concurrency = static_cast<std::uint32_t>(*n);
  }
}

void parse_breakers(context& cx, const std::string& service_what, const field& f,
                    circuit_breaker_config& out) {
  object o(cx, f, service_what + " circuit_breakers",
           {"max_connections", "max_pending", "max_requests"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  out.where = o.where();
  constexpr std::uint64_t most = 100000000;
  if (const auto n = o.count("max_connections", 1, most)) {
    out.max_connections = static_cast<std::uint32_t>(*n);
  }
  if (const auto n = o.count("max_pending", 1, most)) {
    out.max_pending = static_cast<std::uint32_t>(*n);
  }
  if (const auto n = o.count("max_requests", 1, most)) {
    out.max_requests = static_cast<std::uint32_t>(*n);
  }
}

void parse_service(context& cx, const YAML::Node& node, std::size_t index,
                   std::vector<service_config>& out) {
  object o(cx, node, label(node, "service", index),
           {"name", "subsets", "connect_timeout", "request_timeout", "per_try_timeout", "lb",
            "failover", "outlier_detection", "retries", "circuit_breakers", "tls"});
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
  if (const auto d = o.positive_duration("per_try_timeout")) {
    s.per_try_timeout = *d;
    if (*d > s.request_timeout) {
      o.error(*o.find("per_try_timeout"),
              "per_try_timeout is longer than request_timeout (the whole budget)");
    }
  }
  if (const auto mode = o.choice<failover_mode>(
          "failover", {{"stable", failover_mode::stable}, {"none", failover_mode::none}})) {
    s.failover = *mode;
  }
  if (const field* f = o.find("outlier_detection")) {
    parse_outlier(cx, o.what(), *f, s.outlier_detection);
  }
  if (const field* f = o.find("retries")) {
    parse_retries(cx, o.what(), *f, s.retries);
  }
  if (const field* f = o.find("circuit_breakers")) {
    parse_breakers(cx, o.what(), *f, s.circuit_breakers);
  }
  if (const field* f = o.find("tls")) {
    upstream_tls_config tls;
    parse_upstream_tls(cx, *f, o.what(), tls);
    s.tls = std::move(tls);
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
