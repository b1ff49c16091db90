#include "counters.hpp"

namespace cohort::profile_api {

std::string_view path_label_name(path_label p) {
  switch (p) {
    case path_label::profile:
      return "/profile";
    case path_label::healthz:
      return "/healthz";
    case path_label::metrics:
      return "/metrics";
    case path_label::echo:
      return "/echo";
    case path_label::upload:
      return "/upload";
    case path_label::stream:
      return "/stream";
    case path_label::slow:
      return "/slow";
    case path_label::ws:
      return "/ws";
    case path_label::other:
    case path_label::count_:
      break;
  }
  return "other";
}

path_label classify_path(std::string_view path) {
  if (path == "/profile") {
    return path_label::profile;
  }
  if (path == "/healthz") {
    return path_label::healthz;
  }
  if (path == "/metrics") {
    return path_label::metrics;
  }
  if (path == "/echo" || path.starts_with("/echo/")) {
    return path_label::echo;
  }
  if (path == "/upload") {
    return path_label::upload;
  }
  if (path == "/stream") {
    return path_label::stream;
  }
  if (path == "/slow") {
    return path_label::slow;
  }
  if (path == "/ws") {
    return path_label::ws;
  }
  return path_label::other;
}

void counters::record(path_label path, unsigned status) {
  counts_[static_cast<std::size_t>(path)][slot(status)].fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t counters::get(path_label path, unsigned status) const {
  return counts_[static_cast<std::size_t>(path)][slot(status)].load(std::memory_order_relaxed);
}

std::string counters::exposition(std::string_view api, std::string_view version_label) const {
  std::string out;
  out += "# HELP profile_api_requests_total Requests answered, by path and status code.\n";
  out += "# TYPE profile_api_requests_total counter\n";
  for (std::size_t p = 0; p < path_count; ++p) {
    for (std::size_t s = 0; s < status_slots; ++s) {
      const auto n = counts_[p][s].load(std::memory_order_relaxed);
      if (n == 0) {
        continue;
      }
      out += "profile_api_requests_total{path=\"";
      out += path_label_name(static_cast<path_label>(p));
      out += "\",code=\"";
      out += s == 0 ? std::string("other") : std::to_string(s);
      out += "\"} ";
      out += std::to_string(n);
      out += '\n';
    }
  }
  // Label values are flag text chosen by the operator; escape what the format requires.
  const auto escaped = [](std::string_view v) {
    std::string e;
    for (const char c : v) {
      if (c == '\\' || c == '"') {
        e += '\\';
        e += c;
      } else if (c == '\n') {
        e += "\\n";
      } else {
        e += c;
      }
    }
    return e;
  };
  out += "# HELP profile_api_info The API shape and version label this backend serves.\n";
  out += "# TYPE profile_api_info gauge\n";
  out += "profile_api_info{api=\"";
  out += escaped(api);
  out += "\",version=\"";
  out += escaped(version_label);
  out += "\"} 1\n";
  return out;
}

}  // namespace cohort::profile_api
