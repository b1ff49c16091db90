#include "tally.hpp"

#include <bit>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace cohort::loadgen {

namespace {

constexpr std::array<std::string_view, 5> failure_names = {"connect", "timeout", "io", "dropped",
                                                           "abandoned"};

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

double round_to(double v, double step) {
  return std::round(v / step) * step;
}

}  // namespace

tally::tally(const std::vector<user>& population) : users_(population.size()) {
  for (const user& u : population) {
    ++cohort_users_[static_cast<std::size_t>(u.kind)];
  }
}

std::int16_t tally::version_index(std::string_view version) {
  for (std::size_t i = 0; i < version_names_.size(); ++i) {
    if (version_names_[i] == version) {
      return static_cast<std::int16_t>(i);
    }
  }
  if (version_names_.size() >= 32) {
    return -1;  // a misbehaving target inventing versions: count it as unversioned
  }
  version_names_.emplace_back(version);
  by_version_.push_back(0);
  users_per_version_.push_back(0);
  for (auto& v : by_cohort_version_) {
    v.push_back(0);
  }
  return static_cast<std::int16_t>(version_names_.size() - 1);
}

void tally::response(const user& u, unsigned status, std::string_view version, double latency_ms,
                     double at_s) {
  ++responses_;
  ++by_status_[status];
  latency_.record(latency_ms);
  const std::int16_t v = version.empty() ? -1 : version_index(version);
  if (v < 0) {
    ++unversioned_;
    return;
  }
  const auto vi = static_cast<std::size_t>(v);
  const auto ci = static_cast<std::size_t>(u.kind);
  ++by_version_[vi];
  ++by_cohort_version_[ci][vi];
  user_seen& seen = users_[u.id - 1];
  const std::uint32_t bit = 1u << vi;
  if ((seen.versions & bit) == 0) {
    ++users_per_version_[vi];
    if (seen.versions != 0 && std::popcount(seen.versions) == 1) {
      ++multi_version_users_;
      ++cohort_multi_[ci];
    }
    seen.versions |= bit;
  }
  if (seen.last >= 0 && seen.last != v) {
    const std::string name =
        version_names_[static_cast<std::size_t>(seen.last)] + "->" + version_names_[vi];
    transition& t = transitions_[name];
    if (t.switches == 0) {
      t.first_s = at_s;
    }
    ++t.switches;
    t.last_s = at_s;
    ++t.by_second[static_cast<std::uint64_t>(at_s)];
    if (user_transitions_.emplace(u.id, name).second) {
      ++t.users;
    }
  }
  seen.last = v;
}

std::uint64_t tally::non_2xx() const {
  std::uint64_t n = 0;
  for (const auto& [status, count] : by_status_) {
    if (status < 200 || status > 299) {
      n += count;
    }
  }
  return n;
}

std::uint64_t tally::errors_total() const {
  std::uint64_t n = non_2xx();
  for (const auto f : failures_) {
    n += f;
  }
  return n;
}

std::string tally::progress_line(double elapsed_s) const {
  std::string line = "[" + fixed(elapsed_s, 1) + "s] sent=" + std::to_string(sent_) +
                     " ok=" + std::to_string(responses_ - non_2xx());
  for (std::size_t i = 0; i < version_names_.size(); ++i) {
    line += " " + version_names_[i] + "=" + std::to_string(by_version_[i]);
  }
  line += " errors=" + std::to_string(errors_total()) +
          " multi-version-users=" + std::to_string(multi_version_users_);
  return line;
}

std::string tally::report_json(double send_window_s, double elapsed_s, const run_facts& run) const {
  using nlohmann::json;
  json j = json::object();
  j["target"] = run.target;
  j["path"] = run.path;
  j["users"] = run.users;
  j["target_rate"] = run.target_rate;
  j["connections"] = run.connections;
  j["seed"] = run.seed;
  j["timeout_s"] = run.timeout_s;
  j["elapsed_s"] = round_to(elapsed_s, 0.001);
  j["send_window_s"] = round_to(send_window_s, 0.001);
  j["requests"] = sent_;
  j["responses"] = responses_;
  j["achieved_rate"] =
      send_window_s > 0 ? round_to(static_cast<double>(sent_) / send_window_s, 0.01) : 0;
  json status = json::object();
  for (const auto& [code, count] : by_status_) {
    status[std::to_string(code)] = count;
  }
  j["status"] = status;
  json versions = json::object();
  json users_per_version = json::object();
  for (std::size_t i = 0; i < version_names_.size(); ++i) {
    versions[version_names_[i]] = by_version_[i];
    users_per_version[version_names_[i]] = users_per_version_[i];
  }
  j["versions"] = versions;
  j["unversioned_responses"] = unversioned_;
  j["users_per_version"] = users_per_version;
  json cohorts = json::object();
  for (std::size_t c = 0; c < cohort_count; ++c) {
    json per = json::object();
    for (std::size_t i = 0; i < version_names_.size(); ++i) {
      if (by_cohort_version_[c][i] != 0) {
        per[version_names_[i]] = by_cohort_version_[c][i];
      }
    }
    cohorts[std::string(to_string(static_cast<cohort_kind>(c)))] = {
        {"users", cohort_users_[c]}, {"versions", per}, {"multi_version_users", cohort_multi_[c]}};
  }
  j["cohorts"] = cohorts;
  j["multi_version_users"] = multi_version_users_;
  json transitions = json::object();
  json times = json::object();
  for (const auto& [name, t] : transitions_) {
    transitions[name] = t.switches;
    json by_second = json::object();
    for (const auto& [second, count] : t.by_second) {
      by_second[std::to_string(second)] = count;
    }
    times[name] = {{"users", t.users},
                   {"first_s", round_to(t.first_s, 0.001)},
                   {"last_s", round_to(t.last_s, 0.001)},
                   {"by_second", by_second}};
  }
  j["transitions"] = transitions;
  j["transition_times"] = times;
  j["latency_ms"] = {{"p50", round_to(latency_.quantile_ms(0.50), 0.001)},
                     {"p90", round_to(latency_.quantile_ms(0.90), 0.001)},
                     {"p99", round_to(latency_.quantile_ms(0.99), 0.001)},
                     {"max", round_to(latency_.max_ms(), 0.001)},
                     {"mean", round_to(latency_.mean_ms(), 0.001)}};
  json errors = json::object();
  for (std::size_t f = 0; f < failures_.size(); ++f) {
    errors[std::string(failure_names[f])] = failures_[f];
  }
  errors["non_2xx"] = non_2xx();
  errors["total"] = errors_total();
  j["errors"] = errors;
  return j.dump();
}

std::string tally::report_text(double send_window_s, double elapsed_s) const {
  std::string out;
  const auto line = [&](const std::string& s) {
    out += s;
    out += '\n';
  };
  line("requests " + std::to_string(sent_) + " in " + fixed(send_window_s, 2) + "s (" +
       fixed(send_window_s > 0 ? static_cast<double>(sent_) / send_window_s : 0, 1) +
       "/s), responses " + std::to_string(responses_) + ", finished after " + fixed(elapsed_s, 2) +
       "s");
  std::string status = "status  ";
  for (const auto& [code, count] : by_status_) {
    status += " " + std::to_string(code) + ":" + std::to_string(count);
  }
  line(status);
  line("versions (requests / users):");
  for (std::size_t i = 0; i < version_names_.size(); ++i) {
    line("  " + version_names_[i] + "  " + std::to_string(by_version_[i]) + " / " +
         std::to_string(users_per_version_[i]));
  }
  if (unversioned_ != 0) {
    line("  (no version) " + std::to_string(unversioned_));
  }
  line("cohorts:");
  for (std::size_t c = 0; c < cohort_count; ++c) {
    std::string s = "  " + std::string(to_string(static_cast<cohort_kind>(c))) + " (" +
                    std::to_string(cohort_users_[c]) + " users):";
    for (std::size_t i = 0; i < version_names_.size(); ++i) {
      if (by_cohort_version_[c][i] != 0) {
        s += " " + version_names_[i] + "=" + std::to_string(by_cohort_version_[c][i]);
      }
    }
    line(s);
  }
  line("users that saw more than one version: " + std::to_string(multi_version_users_));
  for (const auto& [name, t] : transitions_) {
    line("  " + name + ": " + std::to_string(t.switches) + " switches by " +
         std::to_string(t.users) + " users, first at " + fixed(t.first_s, 2) + "s, last at " +
         fixed(t.last_s, 2) + "s");
  }
  line("latency ms: p50 " + fixed(latency_.quantile_ms(0.5), 2) + " p99 " +
       fixed(latency_.quantile_ms(0.99), 2) + " max " + fixed(latency_.max_ms(), 2));
  std::string errors = "errors: non-2xx " + std::to_string(non_2xx());
  for (std::size_t f = 0; f < failures_.size(); ++f) {
    errors += ", " + std::string(failure_names[f]) + " " + std::to_string(failures_[f]);
  }
  line(errors);
  return out;
}

}  // namespace cohort::loadgen
