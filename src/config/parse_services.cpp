#include <algorithm>
#include <cmath>

#include "config/parsers.hpp"

namespace cohort::config::detail {

namespace {

void parse_rate_limit(context& cx, const std::string& subset_what, const field& f,
                      std::optional<rate_limit_config>& out) {
  object o(cx, f, subset_what + " rate_limit", {"requests_per_second", "burst"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  rate_limit_config limit;
  limit.where = o.where();
  const field* rps_field = o.require("requests_per_second");
  const auto rps = o.number("requests_per_second");
  if (!rps) {
    return;
  }
  // Below one request a day the bucket's arithmetic in nanoseconds overflows.
  if (!(*rps >= 0.00002 && *rps <= 1e9)) {
    o.error(*rps_field, "requests_per_second must be from 0.00002 to 1000000000");
    return;
  }
  limit.requests_per_second = *rps;
  // Default burst: one second's worth, at least one request.
  limit.burst = static_cast<std::uint32_t>(std::max(1.0, std::ceil(*rps)));
  if (const auto n = o.count("burst", 1, 100000000)) {
    limit.burst = static_cast<std::uint32_t>(*n);
  } else if (o.find("burst") != nullptr) {
    return;
  }
  out = limit;
}

// "200", "200-399": an inclusive range of codes from 100 to 599.
std::optional<status_range> parse_status_range(std::string_view text) {
  const auto dash = text.find('-');
  const auto low = parse_count(text.substr(0, dash));
  const auto high = dash == std::string_view::npos ? low : parse_count(text.substr(dash + 1));
  if (!low || !high || *low < 100 || *high > 599 || *low > *high) {
    return std::nullopt;
  }
  return status_range{static_cast<std::uint16_t>(*low), static_cast<std::uint16_t>(*high)};
}

void parse_health_check(context& cx, const std::string& service_what, const field& f,
                        std::optional<health_check_config>& out) {
  object o(cx, f, service_what + " health_check",
           {"path", "interval", "timeout", "healthy_threshold", "unhealthy_threshold",
            "expected_statuses"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  health_check_config hc;
  hc.where = o.where();
  bool ok = true;
  if (const auto path = o.text("path")) {
    if (path->empty() || path->front() != '/' ||
        path->find_first_of(" \t\r\n") != std::string::npos) {
      o.error(*o.find("path"), "path '" + *path + "' must start with '/' and contain no spaces");
      ok = false;
    } else {
      hc.path = *path;
    }
  }
  if (const auto d = o.positive_duration("interval")) {
    hc.interval = *d;
  }
  if (const auto d = o.positive_duration("timeout")) {
    hc.timeout = *d;
    if (hc.timeout > hc.interval) {
      o.error(*o.find("timeout"), "timeout is longer than interval (checks would overlap)");
      ok = false;
    }
  } else {
    hc.timeout = std::min(hc.timeout, hc.interval);  // a short interval shortens the default
  }
  if (const auto n = o.count("healthy_threshold", 1, 1000)) {
    hc.healthy_threshold = static_cast<std::uint32_t>(*n);
  }
  if (const auto n = o.count("unhealthy_threshold", 1, 1000)) {
    hc.unhealthy_threshold = static_cast<std::uint32_t>(*n);
  }
  if (const field* statuses = o.find("expected_statuses")) {
    hc.expected_statuses.clear();
    for (const auto& item : list_items(cx, o.what(), *statuses)) {
      const auto text = item.IsScalar() ? item.Scalar() : std::string();
      if (const auto range = parse_status_range(text)) {
        hc.expected_statuses.push_back(*range);
      } else {
        cx.error(item, o.what() + ": expected status '" + text +
                           "' is not a code or a range of codes from 100 to 599 (like 200 or "
                           "200-399)");
        ok = false;
      }
    }
    const bool list = statuses->value.IsNull() || statuses->value.IsSequence();
    if (hc.expected_statuses.empty() && ok && list) {
      o.error(*statuses, "expected_statuses must list at least one code or range");
      ok = false;
    }
  }
  if (ok) {
    out = std::move(hc);
  }
}

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
           {"endpoints", "rate_limit"});
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
  if (const field* f = o.find("rate_limit")) {
    parse_rate_limit(cx, o.what(), *f, subset.rate_limit);
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
  object o(
      cx, node, label(node, "service", index),
      {"name", "subsets", "connect_timeout", "request_timeout", "per_try_timeout", "lb", "failover",
       "outlier_detection", "retries", "circuit_breakers", "health_check", "protocol", "tls"});
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
  if (const field* f = o.find("health_check")) {
    parse_health_check(cx, o.what(), *f, s.health_check);
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
  if (const auto p = o.choice<upstream_protocol>(
          "protocol", {{"http1", upstream_protocol::http1}, {"http2", upstream_protocol::http2}})) {
    s.protocol = *p;
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
