// The `cohort` command: a thin front over the server and the admin API.

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cli/admin_client.hpp"
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
  std::printf("rollout  %s\n", j.value("rollout", std::string()).empty() ? "-" : field("rollout").c_str());
  std::printf("bucket   %s\n", field("bucket").c_str());
  std::printf("reason   %s\n", field("reason").c_str());
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
