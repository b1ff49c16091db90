#pragma once
// Drives the population against the target: a pacer hands each request (a
// random user) to a random keep-alive connection; every connection runs one
// request at a time, each bounded by --timeout. The only file that sees Asio.

#include <vector>

#include "options.hpp"
#include "population.hpp"
#include "tally.hpp"

namespace cohort::loadgen {

struct run_result {
  bool reached = false;         // a first connection to the target succeeded
  std::string unreachable_why;  // when not reached
  double send_window_s = 0;     // from the first request to the last one handed out
  double elapsed_s = 0;         // until the last answer (or timeout)
};

run_result run_load(const options& opts, std::vector<user>& users, tally& t);

}  // namespace cohort::loadgen
