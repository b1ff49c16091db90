#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "metrics/exposition.hpp"
#include "metrics/le_ladder.hpp"
#include "model.hpp"

namespace cohort::metrics {
namespace {

struct parsed_sample {
  std::string name;
  std::map<std::string, std::string> labels;
  std::string value;
};

// A strict reader of the text format: returns false on anything malformed.
bool parse_sample(const std::string& line, parsed_sample& out, std::string& why) {
  std::size_t i = 0;
  const auto name_char = [](char c, bool first) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
           (!first && std::isdigit(static_cast<unsigned char>(c)));
  };
  while (i < line.size() && name_char(line[i], i == 0)) {
    ++i;
  }
  out.name = line.substr(0, i);
  if (out.name.empty()) {
    why = "no metric name";
    return false;
  }
  out.labels.clear();
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const std::size_t eq = line.find('=', i);
      if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
        why = "label without =\"";
        return false;
      }
      const std::string key = line.substr(i, eq - i);
      std::string value;
      std::size_t j = eq + 2;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\') {
          ++j;
          if (j >= line.size()) {
            why = "dangling escape";
            return false;
          }
          if (line[j] == 'n') {
            value.push_back('\n');
          } else if (line[j] == '\\' || line[j] == '"') {
            value.push_back(line[j]);
          } else {
            why = "bad escape";
            return false;
          }
        } else {
          value.push_back(line[j]);
        }
      }
      if (j >= line.size()) {
        why = "unterminated label value";
        return false;
      }
      if (!out.labels.emplace(key, value).second) {
        why = "duplicate label " + key;
        return false;
      }
      i = j + 1;
      if (i < line.size() && line[i] == ',') {
        ++i;
      }
    }
    if (i >= line.size()) {
      why = "unterminated label set";
      return false;
    }
    ++i;
  }
  if (i >= line.size() || line[i] != ' ') {
    why = "no space before value";
    return false;
  }
  out.value = line.substr(i + 1);
  if (out.value.empty() || out.value.find(' ') != std::string::npos) {
    why = "bad value";
    return false;
  }
  if (out.value != "NaN" && out.value != "+Inf" && out.value != "-Inf") {
    char* end = nullptr;
    std::strtod(out.value.c_str(), &end);
    if (*end != '\0') {
      why = "value is not a number";
      return false;
    }
  }
  return true;
}

std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s = suffix;
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      const std::string base = name.substr(0, name.size() - s.size());
      if (auto it = types.find(base); it != types.end() && it->second == "histogram") {
        return base;
      }
    }
  }
  return name;
}

std::string render_example() {
  registry reg(2);
  auto model = testing::example_model();
  // A route name that needs escaping in a label value.
  model.routes.push_back({"we\"ird\\route\nx", 0});
  const series_table t = reg.intern(model);
  const listener_id pub = reg.intern_listener("public");
  std::uint64_t i = 0;
  for (std::uint32_t subset = 0; subset < 3; ++subset) {
    for (int k = 0; k < 500; ++k, ++i) {
      const std::uint16_t status = k % 40 == 0 ? 503 : k % 17 == 0 ? 404 : 200;
      reg.worker(k % 2).record({t.request(0, subset), t.arm(0, subset), status, status >= 500,
                                40'000'000 + (i * 7919) % 80'000'000, 200, 900, 77});
      reg.worker(k % 2).record_decision(t.decision(0, subset, decision_reason::bucket));
    }
  }
  reg.worker(0).record_request(t.request(2, 0), 200, 3'000'000, 1, 1);
  reg.worker(1).record_request(t.request(-1, 0), 404, 100'000, 1, 1);
  reg.worker(1).record_upstream(t.upstream(0, 2), upstream_event::reset);
  reg.worker(0).connection_opened(pub);
  reg.worker(0).tunnel_opened(t.upstream(0, 2));
  reg.worker(1).tunnel_opened(t.upstream(0, 2));
  // canary (2) and baseline (1) fail over to stable (0); the canary is rate limited.
  reg.worker(0).record_failover(t.failover(0, 2));
  reg.worker(1).record_failover(t.failover(0, 2));
  reg.worker(1).record_failover(t.failover(0, 1));
  reg.worker(0).record_rate_limited(t.upstream(0, 2));

  server_metrics server;
  server.endpoints.push_back({"profile-api", "canary", "127.0.0.1:9101", false});
  server.endpoints.push_back({"profile-api", "stable", "127.0.0.1:9100", true});
  server.rollouts.push_back(
      {"profile-api", "Progressing", 2, {{"stable", 0.9}, {"baseline", 0.05}, {"canary", 0.05}}});
  server.analysis_checks.push_back({"profile-api", "success-rate", "pass", 12});
  server.analysis_checks.push_back({"profile-api", "latency-p99", "nodata", 1});
  server.reloads_ok = 3;
  return render_prometheus(reg.collect(), server);
}

TEST(exposition, tunnels_open_per_subset) {
  const std::string text = render_example();
  EXPECT_NE(text.find("# TYPE cohort_tunnels_open gauge\n"), std::string::npos);
  EXPECT_NE(text.find("cohort_tunnels_open{service=\"profile-api\",subset=\"canary\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("cohort_tunnels_open{service=\"profile-api\",subset=\"stable\"} 0\n"),
            std::string::npos);
}

TEST(exposition, parses_line_by_line_with_the_contract_names) {
  const std::string text = render_example();
  ASSERT_FALSE(text.empty());
  ASSERT_EQ(text.back(), '\n');

  std::map<std::string, std::string> types;
  std::set<std::string> helped;
  std::set<std::string> closed_families;  // families whose samples have ended
  std::string current;
  std::map<std::string, std::vector<parsed_sample>> by_family;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    ASSERT_FALSE(line.empty()) << "line " << n;
    if (line.rfind("# HELP ", 0) == 0) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(helped.insert(name).second) << "HELP twice for " << name;
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream fields(line.substr(7));
      std::string name;
      std::string type;
      fields >> name >> type;
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
      EXPECT_TRUE(types.emplace(name, type).second) << "TYPE twice for " << name;
      EXPECT_EQ(helped.count(name), 1u) << "HELP must come with TYPE for " << name;
      if (!current.empty()) {
        closed_families.insert(current);
      }
      current = name;
      continue;
    }
    ASSERT_NE(line[0], '#') << line;
    parsed_sample s;
    std::string why;
    ASSERT_TRUE(parse_sample(line, s, why)) << "line " << n << ": " << why << ": " << line;
    const std::string fam = family_of(s.name, types);
    ASSERT_EQ(fam, current) << "sample outside its family block: " << line;
    EXPECT_EQ(closed_families.count(fam), 0u);
    by_family[fam].push_back(s);
  }

  const std::map<std::string, std::pair<std::string, std::set<std::string>>> contract = {
      {"cohort_requests_total", {"counter", {"route", "service", "subset", "code"}}},
      {"cohort_request_duration_seconds", {"histogram", {"route", "service", "subset"}}},
      {"cohort_upstream_connect_failures_total", {"counter", {"service", "subset"}}},
      {"cohort_upstream_timeouts_total", {"counter", {"service", "subset"}}},
      {"cohort_upstream_resets_total", {"counter", {"service", "subset"}}},
      {"cohort_circuit_breaker_overflows_total", {"counter", {"service", "subset", "breaker"}}},
      {"cohort_tunnels_open", {"gauge", {"service", "subset"}}},
      {"cohort_downstream_connections", {"gauge", {"listener"}}},
      {"cohort_downstream_connections_accepted_total", {"counter", {"listener"}}},
      {"cohort_tls_handshake_failures_total", {"counter", {"listener"}}},
      {"cohort_request_bytes_total", {"counter", {"route", "service", "subset"}}},
      {"cohort_response_bytes_total", {"counter", {"route", "service", "subset"}}},
      {"cohort_decisions_total", {"counter", {"rollout", "subset", "reason"}}},
      {"cohort_rollout_weight_ratio", {"gauge", {"rollout", "subset"}}},
      {"cohort_rollout_phase", {"gauge", {"rollout", "phase"}}},
      {"cohort_rollout_step", {"gauge", {"rollout"}}},
      {"cohort_analysis_checks_total", {"counter", {"rollout", "metric", "result"}}},
      {"cohort_config_reloads_total", {"counter", {"result"}}},
      {"cohort_rate_limited_total", {"counter", {"service", "subset"}}},
      {"cohort_failovers_total", {"counter", {"service", "from", "to"}}},
      {"cohort_upstream_endpoint_healthy", {"gauge", {"service", "subset", "endpoint"}}},
  };
  for (const auto& [name, spec] : contract) {
    ASSERT_EQ(types[name], spec.first) << name;
    ASSERT_FALSE(by_family[name].empty()) << name;
    for (const auto& s : by_family[name]) {
      std::set<std::string> keys;
      for (const auto& [k, v] : s.labels) {
        if (k != "le") {
          keys.insert(k);
        }
      }
      EXPECT_EQ(keys, spec.second) << s.name;
    }
  }

  // Histograms: per label set, le increasing, counts cumulative, +Inf == _count.
  std::map<std::string, std::vector<std::pair<std::string, double>>> buckets;
  std::map<std::string, double> counts;
  const auto key_of = [](const parsed_sample& s) {
    return s.labels.at("route") + "|" + s.labels.at("service") + "|" + s.labels.at("subset");
  };
  for (const auto& s : by_family["cohort_request_duration_seconds"]) {
    if (s.name == "cohort_request_duration_seconds_bucket") {
      buckets[key_of(s)].emplace_back(s.labels.at("le"), std::stod(s.value));
    } else if (s.name == "cohort_request_duration_seconds_count") {
      counts[key_of(s)] = std::stod(s.value);
    }
  }
  // profile and the escaped route (3 subsets each), orders, unrouted.
  ASSERT_EQ(buckets.size(), 8u);
  EXPECT_EQ(buckets.count("we\"ird\\route\nx|profile-api|stable"), 1u);
  double total_canary = -1;
  for (const auto& [key, list] : buckets) {
    ASSERT_EQ(list.size(), le_count + 1) << key;
    EXPECT_EQ(list.back().first, "+Inf");
    EXPECT_EQ(list.back().second, counts.at(key)) << key;
    for (std::size_t k = 1; k < list.size(); ++k) {
      if (k + 1 < list.size()) {
        EXPECT_LT(std::stod(list[k - 1].first), std::stod(list[k].first)) << key;
      }
      EXPECT_LE(list[k - 1].second, list[k].second) << key << " le " << list[k].first;
    }
    if (key == "profile|profile-api|canary") {
      total_canary = list.back().second;
    }
  }
  EXPECT_EQ(total_canary, 500);

  // The phase gauge: exactly one phase is 1.
  double phase_sum = 0;
  for (const auto& s : by_family["cohort_rollout_phase"]) {
    phase_sum += std::stod(s.value);
    if (s.labels.at("phase") == "Progressing") {
      EXPECT_EQ(s.value, "1");
    }
  }
  EXPECT_EQ(phase_sum, 1);
  EXPECT_EQ(by_family["cohort_rollout_phase"].size(), rollout_phases.size());
}

TEST(exposition, failovers_rate_limits_and_endpoint_health) {
  const std::string text = render_example();
  const auto has = [&](const std::string& line) {
    return text.find("\n" + line + "\n") != std::string::npos;
  };
  EXPECT_TRUE(has(R"(cohort_failovers_total{service="profile-api",from="canary",to="stable"} 2)"));
  EXPECT_TRUE(
      has(R"(cohort_failovers_total{service="profile-api",from="baseline",to="stable"} 1)"));
  // Stable never fails over to itself: no such series.
  EXPECT_EQ(text.find(R"(from="stable")"), std::string::npos);
  EXPECT_TRUE(has(R"(cohort_rate_limited_total{service="profile-api",subset="canary"} 1)"));
  EXPECT_TRUE(has(R"(cohort_rate_limited_total{service="profile-api",subset="stable"} 0)"));
  EXPECT_TRUE(has(
      R"(cohort_upstream_endpoint_healthy{service="profile-api",subset="canary",endpoint="127.0.0.1:9101"} 0)"));
  EXPECT_TRUE(has(
      R"(cohort_upstream_endpoint_healthy{service="profile-api",subset="stable",endpoint="127.0.0.1:9100"} 1)"));
}

TEST(exposition, doubles_and_escapes) {
  std::string out;
  append_label_value(out, "a\"b\\c\nd");
  EXPECT_EQ(out, "a\\\"b\\\\c\\nd");
  out.clear();
  append_double(out, 0.05);
  EXPECT_EQ(out, "0.05");
  out.clear();
  append_double(out, std::nan(""));
  EXPECT_EQ(out, "NaN");
  out.clear();
  append_double(out, -HUGE_VAL);
  EXPECT_EQ(out, "-Inf");
}

std::string find_promtool() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::filesystem::path p = std::filesystem::path(dir) / "promtool";
    if (::access(p.c_str(), X_OK) == 0) {
      return p.string();
    }
  }
  return {};
}

TEST(exposition, promtool_check_metrics_passes) {
  const std::string promtool = find_promtool();
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool not found on PATH: install the Debian package 'prometheus' "
                    "(scripts/deps.sh) to run `promtool check metrics` on the exposition";
  }
  const std::filesystem::path dir = std::filesystem::temp_directory_path();
  const std::filesystem::path input =
      dir / ("cohort_metrics_" + std::to_string(::getpid()) + ".prom");
  const std::filesystem::path output =
      dir / ("cohort_metrics_" + std::to_string(::getpid()) + ".out");
  {
    std::ofstream f(input);
    f << render_example();
  }
  const std::string cmd =
      promtool + " check metrics < " + input.string() + " > " + output.string() + " 2>&1";
  const int status = std::system(cmd.c_str());
  std::ifstream report(output);
  const std::string said((std::istreambuf_iterator<char>(report)),
                         std::istreambuf_iterator<char>());
  std::filesystem::remove(input);
  std::filesystem::remove(output);
  ASSERT_TRUE(WIFEXITED(status)) << cmd;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "promtool said:\n" << said;
}

}  // namespace
}  // namespace cohort::metrics
