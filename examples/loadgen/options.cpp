#include "options.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>
#include <system_error>

namespace cohort::loadgen {

namespace {

template <class Int>
bool parse_unsigned(std::string_view text, Int& out) {
  if (text.empty()) {
    return false;
  }
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && ptr == end;
}

bool parse_positive_double(std::string_view text, double& out) {
  if (text.empty()) {
    return false;
  }
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && ptr == end && std::isfinite(out) && out > 0;
}

// "http://host:port[/path]". Only plain HTTP: the demo gateway listens on loopback.
bool parse_target(std::string_view url, options& opts, bool& has_path) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) {
    return false;
  }
  url.remove_prefix(scheme.size());
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  has_path = slash != std::string_view::npos && slash + 1 < url.size();
  if (has_path) {
    opts.path = std::string(url.substr(slash));
  }
  if (authority.find(':') == std::string_view::npos) {
    if (authority.empty()) {
      return false;
    }
    opts.host = std::string(authority);
    opts.port = 80;
    return true;
  }
  const auto hp = parse_host_port(authority);
  if (!hp || hp->host.empty()) {
    return false;
  }
  opts.host = hp->host;
  opts.port = hp->port;
  return true;
}

// "2048,4096,100-199": single ids and inclusive ranges.
bool parse_id_list(std::string_view text, std::vector<std::uint32_t>& out) {
  out.clear();
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const auto dash = item.find('-');
    std::uint32_t first = 0;
    std::uint32_t last = 0;
    if (dash == std::string_view::npos) {
      if (!parse_unsigned(item, first)) {
        return false;
      }
      last = first;
    } else if (!parse_unsigned(item.substr(0, dash), first) ||
               !parse_unsigned(item.substr(dash + 1), last) || last < first ||
               last - first > 10'000'000) {
      return false;
    }
    if (first == 0) {
      return false;
    }
    for (std::uint32_t id = first;; ++id) {
      out.push_back(id);
      if (id == last) {
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return !out.empty();
}

}  // namespace

const char* usage_text() {
  return "usage: cohort-loadgen [options]\n"
         "Simulates a population of users against a gateway and reports which version\n"
         "each user saw. Stops at --duration or --requests, whichever comes first, or\n"
         "at SIGINT/SIGTERM (it still waits for the answers in flight and reports).\n"
         "\n"
         "  --target URL            http://HOST:PORT[/PATH] (default http://127.0.0.1:8080)\n"
         "  --path PATH             request path (default /profile)\n"
         "  --users N               population size; user ids are 1..N (default 5000)\n"
         "  --internal-share P      share of users that are internal staff, sending\n"
         "                          X-User-Cohort: internal (default 2%)\n"
         "  --beta-users LIST       beta testers' ids: 2048,4096,100-199 (ids above --users\n"
         "                          are ignored)\n"
         "  --legacy-share P        share on old app versions (X-App-Version: 5.1.x); the\n"
         "                          others send 5.2 or later (default 10%)\n"
         "  --anonymous-share P     share without X-User-Id; they keep a cookie jar that\n"
         "                          honours Set-Cookie (default 0%)\n"
         "  --rate R                requests per second over all connections, paced (default 200)\n"
         "  --connections N         keep-alive connections; each request goes over a random\n"
         "                          one, so a user's requests use many connections (default 32)\n"
         "  --duration D            run time: 30s, 2m (default 30s unless --requests is given)\n"
         "  --requests N            stop after sending N requests\n"
         "  --timeout D             per request: connect, send and whole response (default 5s)\n"
         "  --seed N                population and request order (default 1)\n"
         "  --report-every D        progress line on stderr; 0 turns it off (default 1s)\n"
         "  --json                  final report as one JSON object on stdout\n"
         "  -h, --help              this text\n"
         "\n"
         "The version of an answer is the \"version\" field of its JSON body, else its\n"
         "X-Backend-Version header. Exit status: 0 the run finished (HTTP errors included),\n"
         "1 the target could not be reached at all, 2 usage error.\n";
}

parse_outcome parse_options(const std::vector<std::string>& args) {
  options opts;
  bool path_from_target = false;
  bool path_given = false;
  std::string target_path;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view flag = args[i];
    if (flag == "-h" || flag == "--help") {
      return help_requested{};
    }
    if (flag == "--json") {
      opts.json = true;
      continue;
    }
    std::string value;
    bool have_value = false;
    if (const auto eq = flag.find('='); flag.starts_with("--") && eq != std::string_view::npos) {
      value = std::string(flag.substr(eq + 1));
      flag = flag.substr(0, eq);
      have_value = true;
    }
    static constexpr std::string_view with_value[] = {
        "--target",   "--path",        "--users",        "--internal-share",  "--beta-users",
        "--rate",     "--connections", "--legacy-share", "--anonymous-share", "--duration",
        "--requests", "--timeout",     "--seed",         "--report-every"};
    if (std::find(std::begin(with_value), std::end(with_value), flag) == std::end(with_value)) {
      return usage_error{flag.starts_with("-") ? "unknown option " + std::string(flag)
                                               : "unexpected argument '" + std::string(flag) + "'"};
    }
    if (!have_value) {
      if (i + 1 >= args.size()) {
        if (flag.starts_with("--")) {
          return usage_error{"option " + std::string(flag) + " needs a value"};
        }
        return usage_error{"unexpected argument '" + std::string(flag) + "'"};
      }
      if (!flag.starts_with("--")) {
        return usage_error{"unexpected argument '" + std::string(flag) + "'"};
      }
      value = args[++i];
    }
    const auto bad = [&](const char* what) {
      return usage_error{"option " + std::string(flag) + ": '" + value + "' is not " + what};
    };
    const auto share = [&](basis_points& out) -> bool {
      const auto bp = parse_share(value);
      if (!bp || *bp > full_share) {
        return false;
      }
      out = *bp;
      return true;
    };

    if (flag == "--target") {
      options t = opts;
      bool has_path = false;
      if (!parse_target(value, t, has_path)) {
        return bad("an http://HOST:PORT URL");
      }
      opts.host = t.host;
      opts.port = t.port;
      if (has_path) {
        target_path = t.path;
        path_from_target = true;
      }
    } else if (flag == "--path") {
      if (!value.starts_with('/')) {
        return bad("a path starting with /");
      }
      opts.path = value;
      path_given = true;
    } else if (flag == "--users") {
      if (!parse_unsigned(value, opts.users) || opts.users == 0 || opts.users > 10'000'000) {
        return bad("a number of users from 1 to 10000000");
      }
    } else if (flag == "--internal-share") {
      if (!share(opts.internal_share)) {
        return bad("a share from 0% to 100%");
      }
    } else if (flag == "--legacy-share") {
      if (!share(opts.legacy_share)) {
        return bad("a share from 0% to 100%");
      }
    } else if (flag == "--anonymous-share") {
      if (!share(opts.anonymous_share)) {
        return bad("a share from 0% to 100%");
      }
    } else if (flag == "--beta-users") {
      if (!parse_id_list(value, opts.beta_users)) {
        return bad("a list of user ids such as 2048,4096,100-199");
      }
    } else if (flag == "--rate") {
      if (!parse_positive_double(value, opts.rate) || opts.rate > 1e6) {
        return bad("a rate above 0 and at most 1000000 requests/s");
      }
    } else if (flag == "--connections") {
      if (!parse_unsigned(value, opts.connections) || opts.connections == 0 ||
          opts.connections > 10000) {
        return bad("a number of connections from 1 to 10000");
      }
    } else if (flag == "--duration") {
      const auto d = parse_duration(value);
      if (!d || d->count() <= 0) {
        return bad("a duration above zero such as 30s");
      }
      opts.run_for = *d;
    } else if (flag == "--requests") {
      std::uint64_t n = 0;
      if (!parse_unsigned(value, n) || n == 0) {
        return bad("a number of requests above zero");
      }
      opts.max_requests = n;
    } else if (flag == "--timeout") {
      const auto d = parse_duration(value);
      if (!d || d->count() <= 0) {
        return bad("a duration above zero such as 5s");
      }
      opts.timeout = *d;
    } else if (flag == "--seed") {
      if (!parse_unsigned(value, opts.seed)) {
        return bad("an unsigned integer");
      }
    } else if (flag == "--report-every") {
      if (value == "0") {
        opts.report_every = duration{0};
      } else {
        const auto d = parse_duration(value);
        if (!d) {
          return bad("a duration such as 1s, or 0");
        }
        opts.report_every = *d;
      }
    } else {
      return usage_error{"unknown option " + std::string(flag)};
    }
  }
  if (path_from_target && !path_given) {
    opts.path = target_path;
  }
  if (!opts.run_for && !opts.max_requests) {
    opts.run_for = duration{30000};
  }
  if (std::uint64_t{opts.internal_share} + opts.legacy_share + opts.anonymous_share > full_share) {
    return usage_error{
        "--internal-share, --legacy-share and --anonymous-share add up to more "
        "than 100%"};
  }
  return opts;
}

}  // namespace cohort::loadgen
