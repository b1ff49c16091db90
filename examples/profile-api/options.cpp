#include "options.hpp"

#include <charconv>
#include <cmath>
#include <string_view>
#include <system_error>

namespace cohort::profile_api {

namespace {

bool parse_double(std::string_view text, double& out) {
  if (text.empty()) {
    return false;
  }
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && ptr == end && std::isfinite(out);
}

template <class Int>
bool parse_unsigned(std::string_view text, Int& out) {
  if (text.empty()) {
    return false;
  }
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && ptr == end;
}

}  // namespace

const char* usage_text() {
  return "usage: profile-api --port N [--host ADDR] [--api v1.0|v1.1] [--version-label TEXT]\n"
         "                   [--error-rate 0.03] [--latency-ms 80] [--latency-jitter-ms 40]\n"
         "                   [--tail-share 0.02 --tail-latency-ms 40] [--threads N]\n"
         "                   [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]\n";
}

parse_outcome parse_options(const std::vector<std::string>& args) {
  options opts;
  bool have_port = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view flag = args[i];
    if (flag == "-h" || flag == "--help") {
      return help_requested{};
    }
    // Accept both "--flag value" and "--flag=value".
    std::string value;
    bool have_value = false;
    if (const auto eq = flag.find('='); flag.starts_with("--") && eq != std::string_view::npos) {
      value = std::string(flag.substr(eq + 1));
      flag = flag.substr(0, eq);
      have_value = true;
    }
    const auto take = [&]() -> bool {
      if (have_value) {
        return true;
      }
      if (i + 1 >= args.size()) {
        return false;
      }
      value = args[++i];
      return true;
    };
    const auto missing = [&] {
      return usage_error{"option " + std::string(flag) + " needs a value"};
    };
    const auto bad = [&](const char* what) {
      return usage_error{"option " + std::string(flag) + ": '" + value + "' is not " + what};
    };

    if (flag == "--port") {
      if (!take()) {
        return missing();
      }
      if (!parse_unsigned(value, opts.port)) {
        return bad("a port number (0-65535)");
      }
      have_port = true;
    } else if (flag == "--host") {
      if (!take()) {
        return missing();
      }
      if (value.empty()) {
        return bad("an address");
      }
      opts.host = value;
    } else if (flag == "--api") {
      if (!take()) {
        return missing();
      }
      if (value == "v1.0") {
        opts.api = api_version::v1_0;
      } else if (value == "v1.1") {
        opts.api = api_version::v1_1;
      } else {
        return bad("v1.0 or v1.1");
      }
    } else if (flag == "--version-label") {
      if (!take()) {
        return missing();
      }
      opts.version_label = value;
    } else if (flag == "--error-rate") {
      if (!take()) {
        return missing();
      }
      if (!parse_double(value, opts.error_rate) || opts.error_rate < 0.0 || opts.error_rate > 1.0) {
        return bad("a share between 0 and 1");
      }
    } else if (flag == "--latency-ms") {
      if (!take()) {
        return missing();
      }
      if (!parse_double(value, opts.latency_ms) || opts.latency_ms < 0.0) {
        return bad("a non-negative number of milliseconds");
      }
    } else if (flag == "--latency-jitter-ms") {
      if (!take()) {
        return missing();
      }
      if (!parse_double(value, opts.latency_jitter_ms) || opts.latency_jitter_ms < 0.0) {
        return bad("a non-negative number of milliseconds");
      }
    } else if (flag == "--tail-share") {
      if (!take()) {
        return missing();
      }
      if (!parse_double(value, opts.tail_share) || opts.tail_share < 0.0 || opts.tail_share > 1.0) {
        return bad("a share between 0 and 1");
      }
    } else if (flag == "--tail-latency-ms") {
      if (!take()) {
        return missing();
      }
      if (!parse_double(value, opts.tail_latency_ms) || opts.tail_latency_ms < 0.0) {
        return bad("a non-negative number of milliseconds");
      }
    } else if (flag == "--threads") {
      if (!take()) {
        return missing();
      }
      if (!parse_unsigned(value, opts.threads) || opts.threads == 0 || opts.threads > 256) {
        return bad("a thread count between 1 and 256");
      }
    } else if (flag == "--tls-cert" || flag == "--tls-key" || flag == "--tls-client-ca") {
      if (!take()) {
        return missing();
      }
      if (value.empty()) {
        return bad("a file name");
      }
      std::string& target = flag == "--tls-cert"  ? opts.tls_cert
                            : flag == "--tls-key" ? opts.tls_key
                                                  : opts.tls_client_ca;
      target = value;
    } else {
      return usage_error{"unknown option " + std::string(args[i])};
    }
  }
  if (!have_port) {
    return usage_error{"--port is required (0 picks a free port)"};
  }
  if (opts.tls_cert.empty() != opts.tls_key.empty()) {
    return usage_error{"--tls-cert and --tls-key go together"};
  }
  if (!opts.tls_client_ca.empty() && opts.tls_cert.empty()) {
    return usage_error{"--tls-client-ca needs --tls-cert and --tls-key"};
  }
  if (opts.tail_share > 0.0 && opts.tail_latency_ms <= 0.0) {
    return usage_error{"--tail-share needs --tail-latency-ms"};
  }
  if (opts.version_label.empty()) {
    opts.version_label = opts.api == api_version::v1_0 ? "v1.0" : "v1.1";
  }
  return opts;
}

}  // namespace cohort::profile_api
