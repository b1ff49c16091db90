// profile-api: the demo backend of the canary story. v1.0 answers an avatar
// URL string, v1.1 an avatar object; errors and latency can be injected so a
// rollout has something to judge.

#include <cstdio>
#include <string>
#include <vector>

#include "options.hpp"
#include "server.hpp"

int main(int argc, char** argv) {
  using namespace cohort::profile_api;
  std::vector<std::string> args(argv + 1, argv + argc);
  const auto outcome = parse_options(args);
  if (std::holds_alternative<help_requested>(outcome)) {
    std::fputs(usage_text(), stdout);
    return 0;
  }
  if (const auto* err = std::get_if<usage_error>(&outcome)) {
    std::fprintf(stderr, "profile-api: %s\n%s", err->message.c_str(), usage_text());
    return 2;
  }
  return run_server(std::get<options>(outcome));
}
