// Simulates canary and baseline traffic and runs three ways of judging it on
// the same streams (common random numbers):
//   flagger  - every 15 s, the canary's last window must have success rate
//              >= 99% and p99 <= 500 ms; an empty window fails the check; the
//              5th failed check rolls back.
//   kayenta  - every 15 s, the Mann-Whitney judge on everything so far
//              (per-second error rates, binned latencies), rollback on "fail".
//   cohort   - the sequential monitor, updated and checked every second.
// Prints, per traffic rate and scenario, the false rollback rate of A/A runs
// (with a 95% Wilson interval) and, for regressions, the detection rate and the
// median canary requests and seconds to detection.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "analysis/judge.hpp"
#include "analysis/sequential.hpp"

namespace {

using namespace cohort::analysis;

constexpr int buckets_per_doubling = 8;
constexpr int finite_buckets = 130;  // 1 ms .. ~77 s
constexpr double base_median_s = 0.1;
constexpr double base_sigma = 0.5;  // p99 = 320 ms
constexpr int interval_s = 15;
constexpr int flagger_threshold = 5;
constexpr double alpha = 0.01;
constexpr double max_seconds = 1800;
constexpr double canary_request_budget = 10000;

struct scenario {
  const char* name;
  double base_error;
  double canary_error;
  double latency_scale;  // canary latency = baseline latency x scale
  bool regression;
};

const scenario scenarios[] = {
    {"A/A (1% errors)", 0.01, 0.01, 1.0, false}, {"errors 1% -> 2%", 0.01, 0.02, 1.0, true},
    {"errors 1% -> 5%", 0.01, 0.05, 1.0, true},  {"errors 0.1% -> 1%", 0.001, 0.01, 1.0, true},
    {"p99 latency +20%", 0.01, 0.01, 1.2, true}, {"p99 latency +50%", 0.01, 0.01, 1.5, true},
};

std::vector<double> bucket_bounds() {
  std::vector<double> b;
  for (int i = 0; i < finite_buckets; ++i) {
    b.push_back(0.001 * std::exp2(static_cast<double>(i) / buckets_per_doubling));
  }
  b.push_back(HUGE_VAL);
  return b;
}

struct arm_second {
  arm_counts counts;
  std::vector<std::uint64_t> latency;
};

class traffic {
 public:
  traffic(std::uint64_t seed, double rate) : rng_(seed), arrivals_(rate) {}

  void next(double error_rate, double scale, arm_second& out) {
    std::fill(out.latency.begin(), out.latency.end(), 0);
    const int n = arrivals_(rng_);
    std::binomial_distribution<int> errs(n, error_rate);
    out.counts.requests = static_cast<std::uint64_t>(n);
    out.counts.errors = static_cast<std::uint64_t>(errs(rng_));
    const double mu = std::log(base_median_s * scale / 0.001) / std::log(2.0);
    const double sd = base_sigma / std::log(2.0);
    for (int i = 0; i < n; ++i) {
      // log2 of the latency in ms; the bucket is the first bound above it.
      const double l2 = mu + sd * normal_(rng_);
      const double idx = std::ceil(l2 * buckets_per_doubling);
      const auto b = static_cast<std::size_t>(
          std::clamp(idx, 0.0, static_cast<double>(out.latency.size() - 1)));
      ++out.latency[b];
    }
  }

 private:
  std::mt19937_64 rng_;
  std::poisson_distribution<int> arrivals_;
  std::normal_distribution<double> normal_;
};

// Prometheus' histogram_quantile: linear inside the bucket that holds it.
double window_quantile(const std::vector<double>& bounds, const std::vector<std::uint64_t>& c,
                       double q) {
  std::uint64_t total = 0;
  for (auto v : c) {
    total += v;
  }
  const double rank = q * static_cast<double>(total);
  double cum = 0;
  for (std::size_t i = 0; i < c.size(); ++i) {
    const double next = cum + static_cast<double>(c[i]);
    if (next >= rank && c[i] > 0) {
      const double lo = i == 0 ? 0.0 : bounds[i - 1];
      const double hi = std::isinf(bounds[i]) ? lo : bounds[i];
      return lo + (hi - lo) * (rank - cum) / static_cast<double>(c[i]);
    }
    cum = next;
  }
  return 0;
}

struct outcome {
  bool stopped = false;
  double seconds = 0;
  double canary_requests = 0;
};

struct run_result {
  outcome flagger;
  outcome kayenta;
  outcome cohort;
};

run_result run_once(const scenario& sc, double rate, std::uint64_t seed,
                    const std::vector<double>& bounds) {
  traffic canary_traffic(seed * 2 + 1, rate);
  traffic baseline_traffic(seed * 2 + 2, rate);
  arm_second c{{}, std::vector<std::uint64_t>(bounds.size(), 0)};
  arm_second b{{}, std::vector<std::uint64_t>(bounds.size(), 0)};
  histogram hc{bounds, {}};
  histogram hb{bounds, {}};

  sequential_params sp;
  sp.alpha = alpha;
  sequential_monitor monitor(sp);

  // Flagger: the canary's current window.
  std::vector<std::uint64_t> window_latency(bounds.size(), 0);
  arm_counts window;
  int failed_checks = 0;

  // Kayenta: everything so far.
  std::vector<double> rate_c;
  std::vector<double> rate_b;
  histogram all_c{bounds, std::vector<std::uint64_t>(bounds.size(), 0)};
  histogram all_b{bounds, std::vector<std::uint64_t>(bounds.size(), 0)};
  const std::vector<metric_spec> specs = {
      {"error-rate", "errors", direction::increase, 0.0, 1.0, 1.0, false, false},
      {"latency", "latency", direction::increase, 0.0, 1.0, 1.0, false, false}};
  const judge_params jp{0.98, 95, 75, {}};

  run_result r;
  double canary_requests = 0;
  const double horizon = std::min(max_seconds, std::ceil(canary_request_budget / rate));
  for (int t = 1; t <= horizon; ++t) {
    canary_traffic.next(sc.canary_error, sc.latency_scale, c);
    baseline_traffic.next(sc.base_error, 1.0, b);
    canary_requests += static_cast<double>(c.counts.requests);

    if (!r.cohort.stopped) {
      hc.counts = c.latency;
      hb.counts = b.latency;
      monitor.update(c.counts, b.counts, hc, hb);
      if (monitor.rejected()) {
        r.cohort = {true, static_cast<double>(t), canary_requests};
      }
    }

    window.requests += c.counts.requests;
    window.errors += c.counts.errors;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      window_latency[i] += c.latency[i];
      all_c.counts[i] += c.latency[i];
      all_b.counts[i] += b.latency[i];
    }
    if (c.counts.requests > 0) {
      rate_c.push_back(static_cast<double>(c.counts.errors) /
                       static_cast<double>(c.counts.requests));
    }
    if (b.counts.requests > 0) {
      rate_b.push_back(static_cast<double>(b.counts.errors) /
                       static_cast<double>(b.counts.requests));
    }

    if (t % interval_s == 0) {
      if (!r.flagger.stopped) {
        bool ok = window.requests > 0;
        if (ok) {
          const double success =
              1.0 - static_cast<double>(window.errors) / static_cast<double>(window.requests);
          ok = success >= 0.99 && window_quantile(bounds, window_latency, 0.99) <= 0.5;
        }
        if (!ok && ++failed_checks >= flagger_threshold) {
          r.flagger = {true, static_cast<double>(t), canary_requests};
        }
      }
      if (!r.kayenta.stopped) {
        const std::vector<metric_samples> data = {{sample_of(rate_c), sample_of(rate_b)},
                                                  {sample_of(all_c), sample_of(all_b)}};
        if (judge(jp, specs, data).result == verdict::fail) {
          r.kayenta = {true, static_cast<double>(t), canary_requests};
        }
      }
      window = {};
      std::fill(window_latency.begin(), window_latency.end(), 0);
    }
    if (r.flagger.stopped && r.kayenta.stopped && r.cohort.stopped) {
      break;
    }
  }
  return r;
}

struct tally {
  int runs = 0;
  int stopped = 0;
  std::vector<double> requests;
  std::vector<double> seconds;

  void add(const outcome& o) {
    ++runs;
    if (o.stopped) {
      ++stopped;
      requests.push_back(o.canary_requests);
      seconds.push_back(o.seconds);
    }
  }
};

double median(std::vector<double> v) {
  if (v.empty()) {
    return NAN;
  }
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// Wilson score interval, 95%.
std::pair<double, double> wilson(int k, int n) {
  const double z = 1.959963984540054;
  const double p = static_cast<double>(k) / n;
  const double d = 1 + z * z / n;
  const double c = (p + z * z / (2.0 * n)) / d;
  const double h = z * std::sqrt(p * (1 - p) / n + z * z / (4.0 * n * n)) / d;
  return {std::max(0.0, c - h), std::min(1.0, c + h)};
}

std::string cell(const tally& t, bool regression) {
  char buf[96];
  if (!regression) {
    const auto [lo, hi] = wilson(t.stopped, t.runs);
    std::snprintf(buf, sizeof buf, "%5.1f%% [%.1f, %.1f]", 100.0 * t.stopped / t.runs, 100 * lo,
                  100 * hi);
    return buf;
  }
  if (t.stopped == 0) {
    return "  0% -";
  }
  std::snprintf(buf, sizeof buf, "%5.1f%% %6.0f req %5.0f s", 100.0 * t.stopped / t.runs,
                median(t.requests), median(t.seconds));
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 1000;
  double only_rate = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      runs = 100;
    } else if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--rate") == 0 && i + 1 < argc) {
      only_rate = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--quick | --runs N] [--rate R]\n", argv[0]);
      return 2;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  const std::vector<double> bounds = bucket_bounds();
  const double rates[] = {1, 5, 20, 100};
  std::printf(
      "Canary analysis simulator: %d runs per cell, alpha %.2g, Poisson arrivals per arm,\n"
      "lognormal latency (median %.0f ms, sigma %.1f), rollout of at most %.0f s or %.0f canary\n"
      "requests. A/A: false rollback rate [95%% Wilson CI]. Regressions: detection rate,\n"
      "median canary requests and seconds to rollback among the detected runs.\n\n",
      runs, alpha, base_median_s * 1000, base_sigma, max_seconds, canary_request_budget);
  std::printf(
      "| req/s per arm | scenario | flagger (15 s, 5 failed checks) | kayenta (MW every 15 s) "
      "| cohort (sequential, every 1 s) |\n|---|---|---|---|---|\n");
  std::uint64_t seed = 1;
  for (double rate : rates) {
    if (only_rate > 0 && rate != only_rate) {
      seed += 1000003;
      continue;
    }
    for (const scenario& sc : scenarios) {
      tally f;
      tally k;
      tally co;
      for (int i = 0; i < runs; ++i) {
        // Same seeds in every scenario of a rate: common random numbers.
        const run_result r = run_once(sc, rate, seed + static_cast<std::uint64_t>(i), bounds);
        f.add(r.flagger);
        k.add(r.kayenta);
        co.add(r.cohort);
      }
      std::printf("| %g | %s | %s | %s | %s |\n", rate, sc.name, cell(f, sc.regression).c_str(),
                  cell(k, sc.regression).c_str(), cell(co, sc.regression).c_str());
      std::fflush(stdout);
    }
    seed += 1000003;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("\n(%.1f s)\n", secs);
  return 0;
}
