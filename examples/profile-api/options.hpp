#pragma once
// Command-line options of the demo backend; parsing is separate from the
// server so that a bad flag is reported before any socket is opened.

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace cohort::profile_api {

enum class api_version { v1_0, v1_1 };

struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  api_version api = api_version::v1_0;
  std::string version_label;  // defaults to the --api text
  double error_rate = 0.0;    // share of /profile requests that answer 500
  double latency_ms = 0.0;
  double latency_jitter_ms = 0.0;
  // A slow tail: this share of /profile requests takes tail_latency_ms instead
  // of latency_ms +- jitter (a tail-only regression for the rollout bench).
  double tail_share = 0.0;
  double tail_latency_ms = 0.0;
  unsigned threads = 1;
  // TLS (all PEM files): serve HTTPS with this certificate chain and key; with
  // tls_client_ca, require a client certificate signed by that CA (mTLS).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
};

struct usage_error {
  std::string message;
};
struct help_requested {};

using parse_outcome = std::variant<options, usage_error, help_requested>;

parse_outcome parse_options(const std::vector<std::string>& args);
const char* usage_text();

}  // namespace cohort::profile_api
