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
//
// Latencies are recorded in the gateway's one-second window layout (16 buckets
// per octave from 65.5 us), because bucket width is what the practical-
// significance floor is rounded to: a coarser layout here would understate or
// overstate its cost.

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
#include "metrics/log_linear.hpp"

namespace {

using namespace cohort::analysis;

using layout = cohort::metrics::window_layout;
constexpr int interval_s = 15;
constexpr int flagger_threshold = 5;
constexpr double alpha = 0.01;
constexpr double max_seconds = 1800;
constexpr double canary_request_budget = 10000;

// Lognormal latency of a backend.
struct profile {
  double median_s;
  double sigma;
};
constexpr profile slow_api{0.1, 0.5};    // p99 320 ms
constexpr profile fast_api{0.02, 0.25};  // 20 ms, p99 36 ms
constexpr profile sub_ms{0.0003, 0.2};   // 0.3 ms, p99 0.48 ms

struct scenario {
  const char* name;
  profile latency = slow_api;
  double base_error = 0.01;  // 5xx
  double canary_error = 0.01;
  double base_4xx = 0.01;
  double canary_4xx = 0.01;
  double latency_scale = 1.0;  // canary latency = baseline latency x scale + shift
  double latency_shift_s = 0.0;
  // Tail-only regression: this share of canary requests takes tail_s instead.
  double tail_share = 0.0;
  double tail_s = 0.0;
  // Correlated noise: each second, each arm independently starts a bad spell
  // of 1 or 2 seconds with this probability, in which all its requests are
  // bad_shift_s slower.
  double bad_start = 0.0;
  double bad_shift_s = 0.0;
  // Scheduling delays on a busy machine: this share of requests (of both
  // arms) waits an exponential time of this mean for a CPU. A heavy tail whose
  // hazard rate falls, unlike the lognormal's.
  double hiccup_share = 0.0;
  double hiccup_mean_s = 0.0;
  bool regression = false;
};

// p99 of the 100 ms profile is 320 ms; 2% of canary requests at 416 ms puts the
// canary's p99 at 416 ms (+30%) and moves its median by 1.3%.
const scenario scenarios[] = {
    {.name = "A/A (1% 5xx, 1% 4xx)"},
    {.name = "errors 1% -> 2%", .canary_error = 0.02, .regression = true},
    {.name = "errors 1% -> 5%", .canary_error = 0.05, .regression = true},
    {.name = "errors 0.1% -> 1%", .base_error = 0.001, .canary_error = 0.01, .regression = true},
    {.name = "p99 latency +20%", .latency_scale = 1.2, .regression = true},
    {.name = "p99 latency +50%", .latency_scale = 1.5, .regression = true},
    {.name = "tail only: 2% at 416 ms (p99 +30%, p50 +1%)",
     .tail_share = 0.02,
     .tail_s = 0.416,
     .regression = true},
    {.name = "4xx 1% -> 5%", .canary_4xx = 0.05, .regression = true},
    {.name = "4xx 100% (403 canary)", .canary_4xx = 1.0, .regression = true},
    {.name = "A/A 20 ms", .latency = fast_api},
    {.name = "A/A 20 ms, bad seconds (2%/s/arm, +3 ms)",
     .latency = fast_api,
     .bad_start = 0.02,
     .bad_shift_s = 0.003},
    {.name = "A/A 20 ms, busy neighbour (5%/s/arm, +6 ms)",
     .latency = fast_api,
     .bad_start = 0.05,
     .bad_shift_s = 0.006},
    {.name = "20 ms, canary +0.9 ms (< floor)", .latency = fast_api, .latency_shift_s = 0.0009},
    {.name = "p99 latency +20% at 20 ms",
     .latency = fast_api,
     .latency_scale = 1.2,
     .regression = true},
    {.name = "A/A 0.3 ms", .latency = sub_ms},
    {.name = "A/A 0.3 ms, bad seconds (2%/s/arm, +0.04 ms)",
     .latency = sub_ms,
     .bad_start = 0.02,
     .bad_shift_s = 0.00004},
    {.name = "0.3 ms, canary +0.9 ms (< floor)", .latency = sub_ms, .latency_shift_s = 0.0009},
    {.name = "A/A 0.3 ms, scheduling tail (5% + Exp(2 ms))",
     .latency = sub_ms,
     .hiccup_share = 0.05,
     .hiccup_mean_s = 0.002},
    {.name = "A/A 20 ms, scheduling tail (5% + Exp(2 ms))",
     .latency = fast_api,
     .hiccup_share = 0.05,
     .hiccup_mean_s = 0.002},
    {.name = "0.3 ms, canary +2 ms",
     .latency = sub_ms,
     .latency_shift_s = 0.002,
     .regression = true},
};

std::vector<double> bucket_bounds() {
  std::vector<double> b;
  for (std::size_t i = 0; i + 1 < layout::count; ++i) {
    b.push_back(static_cast<double>(layout::upper_ns(i)) * 1e-9);
  }
  b.push_back(HUGE_VAL);  // the last bucket also holds clamped values
  return b;
}

struct arm_second {
  arm_counts counts;
  std::vector<std::uint64_t> latency;
};

// How one arm's requests of one second differ from the backend's profile.
struct arm_behaviour {
  double error;
  double client_error;
  double scale;
  double shift_s;
  double tail_share;
  double tail_s;
  double bad_start;
  double bad_shift_s;
  double hiccup_share;
  double hiccup_mean_s;
};

class traffic {
 public:
  traffic(std::uint64_t seed, double rate, profile p)
      : rng_(seed), arrivals_(rate), log_median_(std::log(p.median_s)), sigma_(p.sigma) {}

  void next(const arm_behaviour& a, arm_second& out) {
    std::fill(out.latency.begin(), out.latency.end(), 0);
    const int n = arrivals_(rng_);
    out.counts.requests = static_cast<std::uint64_t>(n);
    out.counts.errors =
        static_cast<std::uint64_t>(std::binomial_distribution<int>(n, a.error)(rng_));
    out.counts.client_errors =
        static_cast<std::uint64_t>(std::binomial_distribution<int>(n, a.client_error)(rng_));
    // The spell draws come first and always, so both arms stay on the same
    // random numbers whether or not a scenario has bad seconds.
    const double u = uniform_(rng_);
    const double d = uniform_(rng_);
    if (bad_left_ == 0 && u < a.bad_start) {
      bad_left_ = d < 0.5 ? 1 : 2;
    }
    const double extra = bad_left_ > 0 ? a.bad_shift_s : 0.0;
    bad_left_ = bad_left_ > 0 ? bad_left_ - 1 : 0;
    for (int i = 0; i < n; ++i) {
      double v = std::exp(log_median_ + sigma_ * normal_(rng_)) * a.scale + a.shift_s;
      if (uniform_(rng_) < a.tail_share) {
        v = a.tail_s;
      }
      const double h = uniform_(rng_);
      const double wait = -std::log(1.0 - uniform_(rng_)) * a.hiccup_mean_s;
      if (h < a.hiccup_share) {
        v += wait;
      }
      v += extra;
      ++out.latency[layout::index(static_cast<std::uint64_t>(std::llround(v * 1e9)))];
    }
  }

 private:
  std::mt19937_64 rng_;
  std::poisson_distribution<int> arrivals_;
  std::normal_distribution<double> normal_;
  std::uniform_real_distribution<double> uniform_;
  double log_median_;
  double sigma_;
  int bad_left_ = 0;
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
                    const std::vector<double>& bounds, double latency_floor) {
  traffic canary_traffic(seed * 2 + 1, rate, sc.latency);
  traffic baseline_traffic(seed * 2 + 2, rate, sc.latency);
  const arm_behaviour canary_arm{
      sc.canary_error, sc.canary_4xx, sc.latency_scale, sc.latency_shift_s, sc.tail_share,
      sc.tail_s,       sc.bad_start,  sc.bad_shift_s,   sc.hiccup_share,    sc.hiccup_mean_s};
  const arm_behaviour baseline_arm{
      sc.base_error,   sc.base_4xx,     1.0, 0.0, 0.0, 0.0, sc.bad_start, sc.bad_shift_s,
      sc.hiccup_share, sc.hiccup_mean_s};
  arm_second c{{}, std::vector<std::uint64_t>(bounds.size(), 0)};
  arm_second b{{}, std::vector<std::uint64_t>(bounds.size(), 0)};
  histogram hc{bounds, {}};
  histogram hb{bounds, {}};

  sequential_params sp;
  sp.alpha = alpha;
  sp.latency_floor = latency_floor;
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
    canary_traffic.next(canary_arm, c);
    baseline_traffic.next(baseline_arm, b);
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
  bool quick = false;
  double only_rate = 0;
  const char* only_scenario = nullptr;
  double floor_ms = sequential_params{}.latency_floor * 1e3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      // The rates the targets are stated at; 1 and 5 req/s runs last 30 min
      // each and cost most of the full table's time.
      runs = 100;
      quick = true;
    } else if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--rate") == 0 && i + 1 < argc) {
      only_rate = std::atof(argv[++i]);
    } else if (std::strcmp(argv[i], "--floor") == 0 && i + 1 < argc) {
      floor_ms = std::atof(argv[++i]);
    } else if (std::strcmp(argv[i], "--scenario") == 0 && i + 1 < argc) {
      only_scenario = argv[++i];
    } else {
      std::fprintf(
          stderr, "usage: %s [--quick | --runs N] [--rate R] [--floor MS] [--scenario SUBSTRING]\n",
          argv[0]);
      return 2;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  const std::vector<double> bounds = bucket_bounds();
  const double rates[] = {1, 5, 20, 100};
  std::printf(
      "Canary analysis simulator: %d runs per cell, alpha %.2g, latency floor %g ms, Poisson "
      "arrivals per arm,\n"
      "lognormal latency (median 100 ms, sigma 0.5 unless the scenario says 20 ms (sigma\n"
      "0.25) or 0.3 ms (sigma 0.2)), rollout of at most %.0f s or %.0f canary requests.\n"
      "A/A and other nulls: false rollback rate [95%% Wilson CI]. Regressions: detection\n"
      "rate, median canary requests and seconds to rollback among the detected runs.\n\n",
      runs, alpha, floor_ms, max_seconds, canary_request_budget);
  std::printf(
      "| req/s per arm | scenario | flagger (15 s, 5 failed checks) | kayenta (MW every 15 s) "
      "| cohort (sequential, every 1 s) |\n|---|---|---|---|---|\n");
  std::uint64_t seed = 1;
  for (double rate : rates) {
    if ((only_rate > 0 && rate != only_rate) || (quick && rate < 20)) {
      seed += 1000003;
      continue;
    }
    for (const scenario& sc : scenarios) {
      if (only_scenario != nullptr && std::strstr(sc.name, only_scenario) == nullptr) {
        continue;
      }
      tally f;
      tally k;
      tally co;
      for (int i = 0; i < runs; ++i) {
        // Same seeds in every scenario of a rate: common random numbers.
        const run_result r =
            run_once(sc, rate, seed + static_cast<std::uint64_t>(i), bounds, floor_ms * 1e-3);
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
