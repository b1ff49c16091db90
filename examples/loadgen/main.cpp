// cohort-loadgen: the demo's simulated user population. Users with stable ids,
// cohorts (internal staff, beta testers, old app versions) and cookie jars send
// paced requests through the gateway; the report says which version each group
// saw and whether any user was moved between versions.

#include <cstdio>
#include <string>
#include <vector>

#include "load_run.hpp"
#include "options.hpp"
#include "population.hpp"
#include "tally.hpp"

int main(int argc, char** argv) {
  using namespace cohort::loadgen;
  const std::vector<std::string> args(argv + 1, argv + argc);
  const auto outcome = parse_options(args);
  if (std::holds_alternative<help_requested>(outcome)) {
    std::fputs(usage_text(), stdout);
    return 0;
  }
  if (const auto* err = std::get_if<usage_error>(&outcome)) {
    std::fprintf(stderr, "cohort-loadgen: %s\n%s", err->message.c_str(), usage_text());
    return 2;
  }
  const options& opts = std::get<options>(outcome);
  for (const std::uint32_t id : opts.beta_users) {
    if (id > opts.users) {
      std::fprintf(stderr, "cohort-loadgen: beta user %u is not in the population 1..%u; ignored\n",
                   id, opts.users);
    }
  }
  std::vector<user> users = build_population(opts);
  tally t(users);
  const run_result r = run_load(opts, users, t);
  if (!r.reached) {
    std::fprintf(stderr, "cohort-loadgen: %s\n", r.unreachable_why.c_str());
    return 1;
  }
  if (opts.json) {
    tally::run_facts facts;
    facts.target = "http://" + opts.host + ":" + std::to_string(opts.port);
    facts.path = opts.path;
    facts.users = opts.users;
    facts.target_rate = opts.rate;
    facts.connections = opts.connections;
    facts.seed = opts.seed;
    facts.timeout_s = static_cast<double>(opts.timeout.count()) / 1000.0;
    const std::string report = t.report_json(r.send_window_s, r.elapsed_s, facts);
    std::printf("%s\n", report.c_str());
  } else {
    std::fputs(t.report_text(r.send_window_s, r.elapsed_s).c_str(), stdout);
  }
  return 0;
}
