#pragma once
// The demo backend's HTTP/1.1 server. Asio and Beast stay behind this one
// function so that only server.cpp pays their compile time.

#include "options.hpp"

namespace cohort::profile_api {

// Binds, prints "listening on HOST:PORT" on stdout, serves until SIGTERM or
// SIGINT, and returns the process exit code.
int run_server(const options& opts);

}  // namespace cohort::profile_api
