#include "rollout/rollout_record.hpp"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <utility>

namespace cohort::rollout {

using json = nlohmann::json;

namespace {

constexpr std::array<std::pair<phase, std::string_view>, 8> phase_names{{
    {phase::initialized, "Initialized"},
    {phase::progressing, "Progressing"},
    {phase::paused, "Paused"},
    {phase::waiting_promotion, "WaitingPromotion"},
    {phase::promoting, "Promoting"},
    {phase::succeeded, "Succeeded"},
    {phase::rolling_back, "RollingBack"},
    {phase::failed, "Failed"},
}};

constexpr std::array<std::pair<gate, std::string_view>, 4> gate_names{{
    {gate::none, "none"},
    {gate::start, "start"},
    {gate::advance, "advance"},
    {gate::promotion, "promotion"},
}};

std::int64_t millis(time_point t) {
  return t.time_since_epoch().count();
}
time_point at_millis(std::int64_t ms) {
  return time_point(std::chrono::milliseconds(ms));
}

json optional_number(const std::optional<double>& v) {
  return v ? json(*v) : json(nullptr);
}
std::optional<double> number_or_null(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return std::nullopt;
  }
  return it->get<double>();
}

check_result parse_check(std::string_view s) {
  if (s == "pass") {
    return check_result::pass;
  }
  if (s == "fail") {
    return check_result::fail;
  }
  return check_result::nodata;
}

gate parse_gate(std::string_view s) {
  for (const auto& [g, name] : gate_names) {
    if (name == s) {
      return g;
    }
  }
  return gate::none;
}

json analysis_to_json(const analysis_summary& a) {
  json metrics = json::array();
  for (const auto& m : a.metrics) {
    metrics.push_back({{"name", m.name},
                       {"value", optional_number(m.value)},
                       {"baseline", optional_number(m.baseline)},
                       {"min", optional_number(m.min)},
                       {"max", optional_number(m.max)},
                       {"result", to_string(m.result)}});
  }
  json j = {{"at", millis(a.at)},
            {"control", a.control},
            {"canary_requests", a.canary_requests},
            {"baseline_requests", a.baseline_requests},
            {"metrics", std::move(metrics)}};
  if (a.sequential) {
    const auto& s = *a.sequential;
    j["sequential"] = {{"e_value", s.e_value},       {"threshold", s.threshold},
                       {"odds_ratio", s.odds_ratio}, {"seconds", s.seconds},
                       {"rejected", s.rejected},     {"summary", s.summary}};
  }
  if (a.judge) {
    j["judge"] = {
        {"verdict", a.judge->verdict}, {"score", a.judge->score}, {"summary", a.judge->summary}};
  }
  return j;
}

analysis_summary analysis_from_json(const json& j) {
  analysis_summary a;
  a.at = at_millis(j.at("at").get<std::int64_t>());
  a.control = j.value("control", "");
  a.canary_requests = j.at("canary_requests").get<std::uint64_t>();
  a.baseline_requests = j.at("baseline_requests").get<std::uint64_t>();
  for (const auto& m : j.at("metrics")) {
    metric_result r;
    r.name = m.at("name").get<std::string>();
    r.value = number_or_null(m, "value");
    r.baseline = number_or_null(m, "baseline");
    r.min = number_or_null(m, "min");
    r.max = number_or_null(m, "max");
    r.result = parse_check(m.at("result").get<std::string>());
    a.metrics.push_back(std::move(r));
  }
  if (const auto it = j.find("sequential"); it != j.end()) {
    sequential_summary s;
    s.e_value = it->at("e_value").get<double>();
    s.threshold = it->at("threshold").get<double>();
    s.odds_ratio = it->at("odds_ratio").get<double>();
    s.seconds = it->at("seconds").get<std::uint64_t>();
    s.rejected = it->at("rejected").get<bool>();
    s.summary = it->at("summary").get<std::string>();
    a.sequential = std::move(s);
  }
  if (const auto it = j.find("judge"); it != j.end()) {
    a.judge = judge_summary{it->at("verdict").get<std::string>(), it->at("score").get<double>(),
                            it->at("summary").get<std::string>()};
  }
  return a;
}

}  // namespace

std::string_view to_string(phase p) {
  for (const auto& [value, name] : phase_names) {
    if (value == p) {
      return name;
    }
  }
  return "Initialized";
}

std::optional<phase> parse_phase(std::string_view text) {
  for (const auto& [value, name] : phase_names) {
    if (name == text) {
      return value;
    }
  }
  return std::nullopt;
}

bool is_terminal(phase p) {
  return p == phase::succeeded || p == phase::failed;
}

std::string_view to_string(check_result r) {
  switch (r) {
    case check_result::pass:
      return "pass";
    case check_result::fail:
      return "fail";
    case check_result::nodata:
      return "nodata";
  }
  return "nodata";
}

std::string_view to_string(gate g) {
  for (const auto& [value, name] : gate_names) {
    if (value == g) {
      return name;
    }
  }
  return "none";
}

void add_event(rollout_record& r, time_point at, std::string level, std::string message) {
  r.events.push_back(event{at, std::move(level), std::move(message)});
  if (r.events.size() > max_events) {
    r.events.erase(r.events.begin(),
                   r.events.begin() + static_cast<std::ptrdiff_t>(r.events.size() - max_events));
  }
}

std::string to_json(const rollout_record& r) {
  json events = json::array();
  for (const auto& e : r.events) {
    events.push_back({{"at", millis(e.at)}, {"level", e.level}, {"message", e.message}});
  }
  json series = json::array();
  for (const auto& s : r.step_series) {
    series.push_back({{"name", s.name}, {"canary", s.canary}, {"baseline", s.baseline}});
  }
  json completed = json::array();
  for (const auto& c : r.completed_steps) {
    completed.push_back({{"step", c.step},
                         {"canary_requests", c.canary_requests},
                         {"control_requests", c.control_requests},
                         {"completed", millis(c.completed)}});
  }
  const json j = {
      {"version", 1},
      {"name", r.name},
      {"phase", to_string(r.current)},
      {"step", r.step},
      {"started", r.started},
      {"weight", r.weight},
      {"joined_cohorts", r.joined_cohorts},
      {"failed_checks", r.failed_checks},
      {"step_requests", r.step_requests},
      {"step_control_requests", r.step_control_requests},
      {"completed_steps", std::move(completed)},
      {"promoted_endpoints", r.promoted_endpoints},
      {"step_started", millis(r.step_started)},
      {"phase_since", millis(r.phase_since)},
      {"no_data_since", r.no_data_since ? json(millis(*r.no_data_since)) : json(nullptr)},
      {"canary_fingerprint", r.canary_fingerprint},
      {"run_started", millis(r.run_started)},
      {"operator_paused", r.operator_paused},
      {"resume_to", to_string(r.resume_to)},
      {"pending_gate", to_string(r.pending_gate)},
      {"pending_webhooks", r.pending_webhooks},
      {"last_analysis", analysis_to_json(r.last_analysis)},
      {"step_series", std::move(series)},
      {"events", std::move(events)},
      {"reason", r.reason},
  };
  return j.dump();
}

result<rollout_record> from_json(std::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return error{"rollout record is not a JSON object"};
  }
  // The record is ours (written by to_json); a missing or mistyped field means
  // a corrupt or foreign value, reported as one error rather than thrown on.
  try {
    rollout_record r;
    r.name = j.at("name").get<std::string>();
    const auto p = parse_phase(j.at("phase").get<std::string>());
    if (!p) {
      return error{"rollout record: unknown phase " + j.at("phase").dump()};
    }
    r.current = *p;
    r.step = j.at("step").get<std::uint32_t>();
    r.started = j.at("started").get<bool>();
    r.weight = j.at("weight").get<basis_points>();
    r.joined_cohorts = j.at("joined_cohorts").get<std::vector<std::string>>();
    r.failed_checks = j.at("failed_checks").get<std::uint32_t>();
    r.step_requests = j.at("step_requests").get<std::uint64_t>();
    // Added after version 1 was first written: absent in older records.
    r.step_control_requests = j.value("step_control_requests", std::uint64_t{0});
    r.promoted_endpoints = j.value("promoted_endpoints", "");
    if (const auto it = j.find("completed_steps"); it != j.end()) {
      for (const auto& c : *it) {
        r.completed_steps.push_back(step_evidence{
            c.at("step").get<std::uint32_t>(), c.at("canary_requests").get<std::uint64_t>(),
            c.at("control_requests").get<std::uint64_t>(),
            at_millis(c.at("completed").get<std::int64_t>())});
      }
    }
    r.step_started = at_millis(j.at("step_started").get<std::int64_t>());
    r.phase_since = at_millis(j.at("phase_since").get<std::int64_t>());
    if (const auto& n = j.at("no_data_since"); !n.is_null()) {
      r.no_data_since = at_millis(n.get<std::int64_t>());
    }
    r.canary_fingerprint = j.at("canary_fingerprint").get<std::string>();
    r.run_started = at_millis(j.at("run_started").get<std::int64_t>());
    r.operator_paused = j.at("operator_paused").get<bool>();
    r.resume_to = parse_phase(j.at("resume_to").get<std::string>()).value_or(phase::progressing);
    r.pending_gate = parse_gate(j.at("pending_gate").get<std::string>());
    r.pending_webhooks = j.at("pending_webhooks").get<std::vector<std::string>>();
    r.last_analysis = analysis_from_json(j.at("last_analysis"));
    for (const auto& s : j.at("step_series")) {
      r.step_series.push_back(metric_series{s.at("name").get<std::string>(),
                                            s.at("canary").get<std::vector<double>>(),
                                            s.at("baseline").get<std::vector<double>>()});
    }
    for (const auto& e : j.at("events")) {
      r.events.push_back(event{at_millis(e.at("at").get<std::int64_t>()),
                               e.at("level").get<std::string>(),
                               e.at("message").get<std::string>()});
    }
    r.reason = j.at("reason").get<std::string>();
    return r;
  } catch (const json::exception& e) {
    return error{std::string("rollout record: ") + e.what()};
  }
}

routing::rollout_state to_routing_state(const rollout_record& r) {
  routing::rollout_state s;
  switch (r.current) {
    case phase::promoting:
    case phase::succeeded:
      s.phase = routing::rollout_state::mode::promoted;
      s.weight = full_share;
      s.joined_cohorts = r.joined_cohorts;
      break;
    case phase::rolling_back:
    case phase::failed:
      s.phase = routing::rollout_state::mode::rolled_back;
      s.weight = 0;
      break;
    default:
      s.phase = routing::rollout_state::mode::progressing;
      s.weight = r.weight;
      s.joined_cohorts = r.joined_cohorts;
      s.hold_canary_pins = !r.started;
      break;
  }
  return s;
}

namespace {

// Order in the file is not a version change.
std::string endpoint_list(const std::vector<host_port>& endpoints) {
  std::vector<std::string> eps;
  eps.reserve(endpoints.size());
  for (const auto& e : endpoints) {
    eps.push_back(format_host_port(e));
  }
  std::sort(eps.begin(), eps.end());
  std::string out;
  for (std::size_t i = 0; i < eps.size(); ++i) {
    out += (i == 0 ? "" : ",") + eps[i];
  }
  return out;
}

}  // namespace

std::string canary_fingerprint(const config::rollout_config& rollout,
                               const std::vector<host_port>& canary_endpoints) {
  return "revision=" + rollout.revision + ";canary=" + endpoint_list(canary_endpoints);
}

std::string canary_fingerprint(const config::config& cfg, const config::rollout_config& rollout) {
  return "revision=" + rollout.revision +
         ";canary=" + subset_endpoints(cfg, rollout.service, rollout.canary);
}

std::string subset_endpoints(const config::config& cfg, const std::string& service,
                             const std::string& subset) {
  for (const auto& svc : cfg.services) {
    if (svc.name != service) {
      continue;
    }
    for (const auto& sub : svc.subsets) {
      if (sub.name == subset) {
        return endpoint_list(sub.endpoints);
      }
    }
  }
  return {};
}

void rebase_steady(rollout_record& r, time_point wall_now, std::chrono::milliseconds steady_now) {
  const auto since = [&](time_point then) {
    return steady_now - std::max(std::chrono::milliseconds(0), wall_now - then);
  };
  r.step_started_steady = since(r.step_started);
  if (r.no_data_since) {
    r.no_data_since_steady = since(*r.no_data_since);
  } else {
    r.no_data_since_steady.reset();
  }
  r.gate_asked_steady.reset();
}

}  // namespace cohort::rollout
