// The `cohort` command: a thin front over the server and the admin API.

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "cli/version.hpp"
#include "common/log.hpp"
#include "config/loader.hpp"
#include "server/gateway.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_refused = 1;
constexpr int exit_usage = 2;

constexpr std::string_view usage = R"(usage: cohort <command> [options]

commands:
  serve -c FILE          run the gateway and the rollout controller (SIGTERM drains, SIGHUP reloads)
  validate FILE          check a configuration; prints file:line:column: message for each problem
  version                print the version
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
