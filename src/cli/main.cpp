// The `cohort` command: a thin front over the server and the admin API.

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cli/admin_client.hpp"
#include "cli/allocator.hpp"
#include "cli/version.hpp"
#include "common/log.hpp"
#include "config/loader.hpp"
#include "server/gateway.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_refused = 1;
constexpr int exit_usage = 2;
constexpr int exit_unreachable = 3;

constexpr std::string_view usage = R"(usage: cohort <command> [options]

commands:
  serve -c FILE          run the gateway and the rollout controller (SIGTERM drains, SIGHUP reloads)
  validate FILE          check a configuration; prints file:line:column: message for each problem
  explain [-H 'Name: value']... [-X METHOD] PATH
                         which subset this request would reach, and why
  get rollouts           table: NAME PHASE STEP WEIGHT CANARY BASELINE AGE
  describe rollout NAME  spec summary, current analysis, last events
  promote|abort|pause|resume|retry NAME
                         act on a rollout
  version                print the version

client options (commands that talk to the admin API):
  --admin URL            the admin API (default http://127.0.0.1:9901)
  --token-file FILE      bearer token for mutating calls (or COHORT_ADMIN_TOKEN)
exit codes: 0 ok, 1 refused or invalid, 2 usage, 3 cannot reach the admin API
)";

int print_usage(std::string_view why) {
  if (!why.empty()) {
    std::fprintf(stderr, "cohort: %.*s\n\n", static_cast<int>(why.size()), why.data());
  }
  std::fprintf(stderr, "%.*s", static_cast<int>(usage.size()), usage.data());
  return exit_usage;
}

int cmd_validate(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    return print_usage("validate takes one file");
  }
  auto loaded = cohort::config::load_config_file(args[0]);
  if (!loaded) {
    for (const auto& d : loaded.err()) {
      std::printf("%s\n", d.to_string().c_str());
    }
    return exit_refused;
  }
  // Certificate files too: a configuration that `serve` would refuse is not ok.
  if (const auto bad = cohort::server::check_certificates(*loaded); !bad.empty()) {
    for (const auto& d : bad) {
      std::printf("%s\n", d.to_string().c_str());
    }
    return exit_refused;
  }
  std::printf("%s: ok\n", args[0].c_str());
  return exit_ok;
}

int cmd_serve(const std::vector<std::string>& args) {
  std::string path;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if ((args[i] == "-c" || args[i] == "--config") && i + 1 < args.size()) {
      path = args[++i];
    } else if (args[i] == "-v" || args[i] == "--verbose") {
      cohort::log::set_min_level(cohort::log::level::debug);
    } else {
      return print_usage("serve: unexpected argument '" + args[i] + "'");
    }
  }
  if (path.empty()) {
    return print_usage("serve needs -c FILE");
  }
  auto gateway = cohort::server::gateway::create(path);
  if (!gateway) {
    return exit_refused;
  }
  cohort::log::info("memory allocator", {{"allocator", cohort::cli::allocator_name()}});
  return gateway->run();
}

// Takes --admin and --token-file out of args.
bool take_client_options(std::vector<std::string>& args, cohort::cli::admin_target& target,
                         std::string& problem) {
  if (const char* env = std::getenv("COHORT_ADMIN_TOKEN")) {
    target.token = env;
  }
  std::vector<std::string> rest;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--admin" && i + 1 < args.size()) {
      target.url = args[++i];
    } else if (args[i] == "--token-file" && i + 1 < args.size()) {
      std::ifstream in(args[++i]);
      if (!in || !std::getline(in, target.token)) {
        problem = "cannot read the token file '" + args[i] + "'";
        return false;
      }
    } else {
      rest.push_back(args[i]);
    }
  }
  args = std::move(rest);
  return true;
}

// Prints an unreachable or refused call and returns its exit code; 0 when fine.
int report_failure(const cohort::cli::admin_reply& reply) {
  if (!reply.reached) {
    std::fprintf(stderr, "cohort: %s\n", reply.failure.c_str());
    return exit_unreachable;
  }
  if (reply.status >= 400) {
    const auto j = nlohmann::json::parse(reply.body, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("error")) {
      std::fprintf(stderr, "cohort: %s\n", j["error"].get<std::string>().c_str());
      if (j.contains("details") && j["details"].is_array()) {
        for (const auto& d : j["details"]) {
          std::fprintf(stderr, "  %s\n", d.dump().c_str());
        }
      }
    } else {
      std::fprintf(stderr, "cohort: the admin API answered %u: %s\n", reply.status,
                   reply.body.c_str());
    }
    return exit_refused;
  }
  return exit_ok;
}

int cmd_explain(std::vector<std::string> args) {
  cohort::cli::admin_target target;
  std::string problem;
  if (!take_client_options(args, target, problem)) {
    return print_usage(problem);
  }
  nlohmann::json request = {{"method", "GET"}, {"headers", nlohmann::json::object()}};
  std::string path;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-H" && i + 1 < args.size()) {
      const std::string& h = args[++i];
      const auto colon = h.find(':');
      if (colon == std::string::npos || colon == 0) {
        return print_usage("-H takes 'Name: value', got '" + h + "'");
      }
      std::string value = h.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') {
        value.erase(0, 1);
      }
      request["headers"][h.substr(0, colon)] = value;
    } else if (args[i] == "-X" && i + 1 < args.size()) {
      request["method"] = args[++i];
    } else if (!args[i].empty() && args[i][0] == '/' && path.empty()) {
      path = args[i];
    } else {
      return print_usage("explain: unexpected argument '" + args[i] + "'");
    }
  }
  if (path.empty()) {
    return print_usage("explain needs a PATH such as /profile");
  }
  request["path"] = path;
  const auto reply = cohort::cli::call_admin(target, "POST", "/api/v1/explain", request.dump());
  if (!reply.reached) {
    return report_failure(reply);
  }
  const auto j = nlohmann::json::parse(reply.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return report_failure(reply);
  }
  if (j.contains("routed") && !j["routed"].get<bool>()) {
    std::printf("no route matches %s %s\n", request["method"].get<std::string>().c_str(),
                path.c_str());
    return exit_refused;
  }
  if (reply.status >= 400) {
    return report_failure(reply);
  }
  const auto field = [&](const char* name) -> std::string {
    if (!j.contains(name) || j[name].is_null()) {
      return "-";
    }
    return j[name].is_string() ? j[name].get<std::string>() : j[name].dump();
  };
  std::printf("route    %s\n", field("route").c_str());
  std::printf("service  %s\n", field("service").c_str());
  std::printf("subset   %s\n", field("subset").c_str());
  std::printf("rollout  %s\n",
              j.value("rollout", std::string()).empty() ? "-" : field("rollout").c_str());
  std::printf("bucket   %s\n", field("bucket").c_str());
  std::printf("reason   %s\n", field("reason").c_str());
  return exit_ok;
}

std::string json_text(const nlohmann::json& j, const char* key, const char* fallback = "-") {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) {
    return fallback;
  }
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

// "99.20% 118ms" for an arm's summary, "-" without traffic.
std::string arm_summary(const nlohmann::json& arm) {
  if (!arm.is_object() || arm.value("requests", 0) == 0) {
    return "-";
  }
  char buf[64];
  const double sr = arm.value("success_rate", 0.0) * 100.0;
  if (arm.contains("p99_ms") && arm["p99_ms"].is_number()) {
    std::snprintf(buf, sizeof buf, "%.2f%% %.0fms", sr, arm["p99_ms"].get<double>());
  } else {
    std::snprintf(buf, sizeof buf, "%.2f%%", sr);
  }
  return buf;
}

std::string age_text(double seconds) {
  char buf[32];
  if (seconds < 120) {
    std::snprintf(buf, sizeof buf, "%.0fs", seconds);
  } else if (seconds < 7200) {
    std::snprintf(buf, sizeof buf, "%.0fm", seconds / 60);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fh", seconds / 3600);
  }
  return buf;
}

int cmd_get(std::vector<std::string> args) {
  cohort::cli::admin_target target;
  std::string problem;
  if (!take_client_options(args, target, problem)) {
    return print_usage(problem);
  }
  if (args.size() != 1 || (args[0] != "rollouts" && args[0] != "rollout")) {
    return print_usage("usage: cohort get rollouts");
  }
  const auto reply = cohort::cli::call_admin(target, "GET", "/api/v1/rollouts");
  if (const int rc = report_failure(reply); rc != exit_ok) {
    return rc;
  }
  const auto j = nlohmann::json::parse(reply.body, nullptr, false);
  if (j.is_discarded() || !j.contains("rollouts")) {
    std::fprintf(stderr, "cohort: unexpected answer from the admin API\n");
    return exit_refused;
  }
  std::printf("%-24s %-17s %-6s %-7s %-16s %-16s %s\n", "NAME", "PHASE", "STEP", "WEIGHT", "CANARY",
              "BASELINE", "AGE");
  for (const auto& r : j["rollouts"]) {
    std::string step = "-";
    if (r.contains("step") && r["step"].is_number() && r.contains("steps")) {
      step = std::to_string(r["step"].get<int>()) + "/" + std::to_string(r["steps"].get<int>());
    }
    std::printf("%-24s %-17s %-6s %-7s %-16s %-16s %s\n", json_text(r, "name").c_str(),
                json_text(r, "phase").c_str(), step.c_str(), json_text(r, "weight").c_str(),
                arm_summary(r.value("canary_metrics", nlohmann::json())).c_str(),
                arm_summary(r.value("baseline_metrics", nlohmann::json())).c_str(),
                r.contains("age_seconds") ? age_text(r["age_seconds"].get<double>()).c_str() : "-");
  }
  return exit_ok;
}

int cmd_describe(std::vector<std::string> args) {
  cohort::cli::admin_target target;
  std::string problem;
  if (!take_client_options(args, target, problem)) {
    return print_usage(problem);
  }
  if (args.size() != 2 || args[0] != "rollout") {
    return print_usage("usage: cohort describe rollout NAME");
  }
  const auto reply = cohort::cli::call_admin(target, "GET", "/api/v1/rollouts/" + args[1]);
  if (const int rc = report_failure(reply); rc != exit_ok) {
    return rc;
  }
  const auto r = nlohmann::json::parse(reply.body, nullptr, false);
  if (r.is_discarded()) {
    std::fprintf(stderr, "cohort: unexpected answer from the admin API\n");
    return exit_refused;
  }
  std::printf("Name:           %s\n", json_text(r, "name").c_str());
  std::printf("Service:        %s (stable %s, canary %s, baseline %s)\n",
              json_text(r, "service").c_str(), json_text(r, "stable").c_str(),
              json_text(r, "canary").c_str(), json_text(r, "baseline", "none").c_str());
  std::printf("Phase:          %s\n", json_text(r, "phase").c_str());
  if (r.contains("next_action")) {
    // What the operator has to do next, before anything else.
    std::printf("Next:           %s\n", json_text(r, "next_action").c_str());
  }
  if (r.value("state_stored", true) == false) {
    std::printf("State store:    NOT STORED (the store refuses writes; retried)\n");
  }
  if (r.value("held_on_stable", false)) {
    std::printf("Held:           every user on stable until the state can be stored\n");
  }
  std::printf("Step:           %s of %s\n", json_text(r, "step").c_str(),
              json_text(r, "steps").c_str());
  if (r.contains("step_requests")) {
    std::printf("Step evidence:  %s of %s canary requests judged, %s %s requests\n",
                json_text(r, "step_requests").c_str(), json_text(r, "min_requests").c_str(),
                json_text(r, "step_control_requests", "0").c_str(),
                json_text(r, "control", "baseline").c_str());
  }
  if (r.contains("completed_steps") && r["completed_steps"].is_array()) {
    for (const auto& c : r["completed_steps"]) {
      std::printf("  step %d passed on %s canary and %s %s requests\n", c.value("step", 0) + 1,
                  json_text(c, "canary_requests").c_str(), json_text(c, "control_requests").c_str(),
                  json_text(r, "control", "baseline").c_str());
    }
  }
  std::printf("Canary weight:  %s\n", json_text(r, "weight").c_str());
  std::printf("Failed checks:  %s\n", json_text(r, "failed_checks", "0").c_str());
  std::printf("Canary:         %s\n",
              arm_summary(r.value("canary_metrics", nlohmann::json())).c_str());
  std::printf("Baseline:       %s\n",
              arm_summary(r.value("baseline_metrics", nlohmann::json())).c_str());
  if (r.contains("reason")) {
    std::printf("Reason:         %s\n", json_text(r, "reason").c_str());
  }
  if (r.contains("last_analysis") && !r["last_analysis"].is_null()) {
    std::printf("Last analysis:\n%s\n", r["last_analysis"].dump(2).c_str());
  }
  if (r.contains("events") && r["events"].is_array()) {
    std::printf("Events:\n");
    for (const auto& e : r["events"]) {
      std::printf("  %s  %s\n", json_text(e, "time").c_str(), json_text(e, "message").c_str());
    }
  }
  return exit_ok;
}

int cmd_action(const std::string& action, std::vector<std::string> args) {
  cohort::cli::admin_target target;
  std::string problem;
  if (!take_client_options(args, target, problem)) {
    return print_usage(problem);
  }
  if (args.size() != 1) {
    return print_usage("usage: cohort " + action + " NAME");
  }
  const auto reply =
      cohort::cli::call_admin(target, "POST", "/api/v1/rollouts/" + args[0] + "/" + action);
  if (const int rc = report_failure(reply); rc != exit_ok) {
    return rc;
  }
  const auto r = nlohmann::json::parse(reply.body, nullptr, false);
  std::printf("%s: %s (phase %s)\n", args[0].c_str(), action.c_str(),
              r.is_discarded() ? "?" : json_text(r, "phase").c_str());
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    return print_usage("");
  }
  const std::string_view command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "serve") {
    return cmd_serve(args);
  }
  if (command == "validate") {
    return cmd_validate(args);
  }
  if (command == "explain") {
    return cmd_explain(args);
  }
  if (command == "get") {
    return cmd_get(args);
  }
  if (command == "describe") {
    return cmd_describe(args);
  }
  if (command == "promote" || command == "abort" || command == "pause" || command == "resume" ||
      command == "retry") {
    return cmd_action(std::string(command), args);
  }
  if (command == "version" || command == "--version") {
    std::printf("cohort %s\n", COHORT_VERSION);
    return exit_ok;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    print_usage("");
    return exit_ok;
  }
  return print_usage("unknown command '" + std::string(command) + "'");
}
