#include <algorithm>

#include "config/parsers.hpp"

namespace cohort::config::detail {

namespace {

void parse_listener(context& cx, const YAML::Node& node, std::size_t index,
                    std::vector<listener_config>& out) {
  object o(cx, node, label(node, "listener", index), {"name", "address", "tls"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  listener_config l;
  l.where = o.where();
  const auto name = unique_name(o, out, "listener");
  o.require("address");
  if (name) {
    l.name = *name;
  }
  if (const auto address = o.address("address")) {
    l.address = *address;
    for (const auto& other : out) {
      if (l.address.port != 0 && other.address.port == l.address.port &&
          other.address.host == l.address.host) {
        o.error(*o.find("address"), "address " + format_host_port(l.address) +
                                        " is already used by listener '" + other.name + "'");
      }
    }
  }
  if (const field* tls = o.find("tls")) {
    tls_config config;
    parse_listener_tls(cx, *tls, o.what(), config);
    l.tls = std::move(config);
  }
  if (name) {
    out.push_back(std::move(l));
  }
}

void parse_limits(context& cx, const field& f, limits_config& out) {
  object o(cx, f, "gateway limits",
           {"max_header_bytes", "max_headers", "max_body_bytes", "header_timeout", "idle_timeout",
            "drain_timeout"});
  o.check_keys();
  if (const auto n = o.bytes("max_header_bytes")) {
    if (*n == 0) {
      o.error(*o.find("max_header_bytes"), "max_header_bytes must be above 0");
    } else {
      out.max_header_bytes = *n;
    }
  }
  if (const auto n = o.count("max_headers", 1, 10000)) {
    out.max_headers = static_cast<std::uint32_t>(*n);
  }
  if (const auto n = o.bytes("max_body_bytes")) {
    out.max_body_bytes = *n;
  }
  for (const auto& [key, target] : {std::pair{"header_timeout", &out.header_timeout},
                                    std::pair{"idle_timeout", &out.idle_timeout},
                                    std::pair{"drain_timeout", &out.drain_timeout}}) {
    if (const auto d = o.positive_duration(key)) {
      *target = *d;
    }
  }
}

void parse_access_log(context& cx, const field& f, access_log_config& out) {
  object o(cx, f, "gateway access_log", {"mode", "sample"});
  o.check_keys();
  if (const auto mode = o.choice<access_log_mode>("mode", {{"off", access_log_mode::off},
                                                           {"sampled", access_log_mode::sampled},
                                                           {"all", access_log_mode::all}})) {
    out.mode = *mode;
  }
  if (const field* sample = o.find("sample")) {
    if (out.mode != access_log_mode::sampled) {
      o.error(*sample, "sample only applies with mode: sampled");
    } else if (const auto bp = o.share("sample")) {
      if (*bp == 0) {
        o.error(*sample, "sample 0% logs nothing; use mode: off");
      } else {
        out.sample_ratio = static_cast<double>(*bp) / full_share;
      }
    }
  }
}

void parse_websocket(context& cx, const field& f, websocket_config& out) {
  object o(cx, f, "gateway websocket", {"idle_timeout", "rollback_grace"});
  o.check_keys();
  if (const auto d = o.positive_duration("idle_timeout")) {
    out.idle_timeout = *d;
  }
  if (const field* grace = o.find("rollback_grace")) {
    // 0 is allowed here: close at once.
    const auto text = grace->value.IsScalar() ? grace->value.Scalar() : std::string();
    if (text == "0") {
      out.rollback_grace = duration{0};
    } else if (const auto d = parse_duration(text)) {
      out.rollback_grace = *d;
    } else {
      o.error(*grace, "rollback_grace '" + text + "' is not a duration (like 0s, 500ms, 5s)");
    }
  }
}

void parse_proxy_headers(context& cx, const field& f, proxy_headers_config& out) {
  object o(cx, f, "gateway proxy_headers", {"x_forwarded", "via", "traceparent"});
  o.check_keys();
  if (const auto b = o.boolean("x_forwarded")) {
    out.x_forwarded = *b;
  }
  if (const auto b = o.boolean("via")) {
    out.via = *b;
  }
  if (const auto b = o.boolean("traceparent")) {
    out.traceparent = *b;
  }
}

void parse_http2(context& cx, const field& f, http2_config& out) {
  object o(cx, f, "gateway http2",
           {"max_concurrent_streams", "initial_window_size", "max_header_list_size"});
  o.check_keys();
  // SETTINGS values are 31-bit (window) or 32-bit; larger would not fit on the wire.
  constexpr std::uint64_t max_window = (std::uint64_t{1} << 31) - 1;
  if (const auto n = o.count("max_concurrent_streams", 1, 1U << 20)) {
    out.max_concurrent_streams = static_cast<std::uint32_t>(*n);
  }
  if (const auto n = o.bytes("initial_window_size")) {
    if (*n < 65535 || *n > max_window) {
      o.error(*o.find("initial_window_size"),
              "initial_window_size must be between 65535 bytes and 2GiB - 1");
    } else {
      out.initial_window_size = static_cast<std::uint32_t>(*n);
    }
  }
  if (const auto n = o.bytes("max_header_list_size")) {
    if (*n < 1024 || *n > UINT32_MAX) {
      o.error(*o.find("max_header_list_size"),
              "max_header_list_size must be between 1KiB and 4GiB - 1");
    } else {
      out.max_header_list_size = static_cast<std::uint32_t>(*n);
    }
  }
}

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1") {
    return true;
  }
  // 127.0.0.0/8 written as a dotted quad.
  int parts = 0;
  std::size_t i = 0;
  while (i <= host.size()) {
    const std::size_t dot = std::min(host.find('.', i), host.size());
    const auto part = parse_count(std::string_view(host).substr(i, dot - i));
    if (!part || *part > 255) {
      return false;
    }
    if (parts == 0 && *part != 127) {
      return false;
    }
    ++parts;
    i = dot + 1;
  }
  return parts == 4;
}

}  // namespace

void parse_gateway(context& cx, const field& f, gateway_config& out) {
  object o(cx, f, "gateway",
           {"listeners", "workers", "decision_header", "limits", "access_log", "websocket", "http2",
            "proxy_headers"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  if (const field* listeners = o.require("listeners")) {
    const auto items = list_items(cx, o.what(), *listeners);
    for (std::size_t i = 0; i < items.size(); ++i) {
      parse_listener(cx, items[i], i, out.listeners);
    }
    if (items.empty() && (listeners->value.IsNull() || listeners->value.IsSequence())) {
      o.error(*listeners, "listeners must list at least one listener");
    }
  }
  if (const field* workers = o.find("workers")) {
    if (workers->value.IsScalar() && workers->value.Scalar() == "auto") {
      out.workers = 0;
    } else if (workers->value.IsScalar() && !parse_count(workers->value.Scalar())) {
      o.error(*workers, "workers '" + workers->value.Scalar() + "' is not auto or a number");
    } else if (const auto n = o.count("workers", 1, 1024)) {
      out.workers = static_cast<unsigned>(*n);
    }
  }
  if (const auto header = o.text("decision_header")) {
    if (!header->empty() && !is_token(*header)) {
      o.error(*o.find("decision_header"),
              "decision_header '" + *header + "' is not a valid header name");
    } else {
      out.decision_header = *header;
    }
  }
  if (const field* limits = o.find("limits")) {
    parse_limits(cx, *limits, out.limits);
  }
  if (const field* access_log = o.find("access_log")) {
    parse_access_log(cx, *access_log, out.access_log);
  }
  if (const field* websocket = o.find("websocket")) {
    parse_websocket(cx, *websocket, out.websocket);
  }
  if (const field* http2 = o.find("http2")) {
    parse_http2(cx, *http2, out.http2);
  }
  if (const field* proxy_headers = o.find("proxy_headers")) {
    parse_proxy_headers(cx, *proxy_headers, out.proxy_headers);
  }
}

void parse_admin(context& cx, const field& f, admin_config& out) {
  object o(cx, f, "admin", {"address", "token_file"});
  o.check_keys();
  out.where = o.where();
  const auto address = o.address("address");
  if (address) {
    out.address = *address;
  }
  if (const auto token_file = o.text("token_file")) {
    if (token_file->empty()) {
      o.error(*o.find("token_file"), "token_file must name a file");
    }
    out.token_file = *token_file;
  }
  if (address && out.token_file.empty() && !is_loopback(address->host)) {
    o.error(*o.find("address"), "address " + format_host_port(*address) +
                                    " is not loopback, so token_file is required");
  }
}

void parse_state(context& cx, const field& f, state_config& out) {
  object o(cx, f, "state", {"store"});
  o.check_keys();
  out.where = o.where();
  const auto store = o.text("store");
  if (!store) {
    return;
  }
  const field& at = *o.find("store");
  constexpr std::string_view sqlite = "sqlite:";
  constexpr std::string_view etcd = "etcd://";
  const std::string_view s = *store;
  if (s.starts_with(sqlite)) {
    if (s.size() == sqlite.size()) {
      o.error(at, "store 'sqlite:' needs a file name (like sqlite:cohort-state.db)");
      return;
    }
  } else if (s.starts_with(etcd)) {
    const std::string_view rest = s.substr(etcd.size());
    const std::string_view endpoint = rest.substr(0, rest.find('/'));
    if (!parse_host_port(endpoint)) {
      o.error(at, "store '" + *store + "': '" + std::string(endpoint) +
                      "' is not host:port (like etcd://127.0.0.1:2379/cohort)");
      return;
    }
  } else {
    o.error(at, "store '" + *store +
                    "' must start with sqlite: or etcd:// (like sqlite:cohort-state.db)");
    return;
  }
  out.store = *store;
}

}  // namespace cohort::config::detail
