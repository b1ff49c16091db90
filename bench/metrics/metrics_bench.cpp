// Recording cost on the request path and the controller's window query.
// Run: build/bench/metrics_bench   (Time is nanoseconds per record / per query)
//   BM_record/threads:N     one shard per thread, 10 M samples per worker
//   BM_window_query_30s     success rate and p99 of one arm over the last 30 s,
//                           2 workers, every second holding traffic
#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>

#include <benchmark/benchmark.h>

#include "metrics/exposition.hpp"
#include "metrics/registry.hpp"

namespace {

using namespace cohort::metrics;

label_model model() {
  label_model m;
  m.services.push_back({"profile-api", {"stable", "baseline", "canary"}});
  m.routes.push_back({"profile", 0});
  m.rollouts.push_back({"profile-api", 0});
  return m;
}

// Latencies drawn ahead of time so the benchmark times the recorder, not the RNG.
const std::array<std::uint64_t, 4096>& latencies() {
  static const auto table = [] {
    std::array<std::uint64_t, 4096> t{};
    std::mt19937_64 rng(1);
    std::lognormal_distribution<double> d(std::log(80e6), 0.4);
    for (auto& x : t) {
      x = static_cast<std::uint64_t>(d(rng));
    }
    return t;
  }();
  return table;
}

// Rebuilt by thread 0 before each run; the others only touch it after the start barrier.
std::unique_ptr<registry> shared_registry;
series_table shared_table;

void BM_record(benchmark::State& state) {
  if (state.thread_index() == 0) {
    shared_registry = std::make_unique<registry>(static_cast<unsigned>(state.threads()));
    shared_table = shared_registry->intern(model());
  }
  // Google Benchmark starts the timed loop of all threads together, after setup.
  const auto& lat = latencies();
  std::uint64_t i = 0;
  for (auto _ : state) {
    shard& s = shared_registry->worker(static_cast<unsigned>(state.thread_index()));
    const std::uint32_t subset = static_cast<std::uint32_t>(i % 3);
    const std::uint16_t status = (i & 63) == 0 ? 503 : 200;
    // A new second every 100k records, like a busy worker.
    s.record({shared_table.request(0, subset), shared_table.arm(0, subset), status, status >= 500,
              lat[i & 4095], 300, 1200, 1'000 + i / 100'000});
    s.record_decision(shared_table.decision(0, subset, decision_reason::bucket));
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    // Readers see what was written: a check that the loop was not optimized away.
    const auto w = shared_registry->query(shared_table.arm(0, 2), 120, 1'000 + i / 100'000);
    state.counters["canary_in_window"] = static_cast<double>(w.requests);
  }
}
BENCHMARK(BM_record)->Iterations(10'000'000)->Threads(1)->Threads(2)->UseRealTime();

void BM_record_request_only(benchmark::State& state) {
  registry reg(1);
  const series_table t = reg.intern(model());
  const auto& lat = latencies();
  shard& s = reg.worker(0);
  std::uint64_t i = 0;
  for (auto _ : state) {
    s.record_request(t.request(0, 2), 200, lat[i & 4095], 300, 1200);
    ++i;
  }
}
BENCHMARK(BM_record_request_only);

struct filled {
  registry reg{2};
  series_table t = reg.intern(model());
  std::uint64_t now = 10'000 + window_slots - 1;
  filled() {
    const auto& lat = latencies();
    std::uint64_t i = 0;
    // Every second of the ring holds ~2000 requests per arm split over two workers.
    for (std::uint64_t sec = 10'000; sec <= now; ++sec) {
      for (int k = 0; k < 6000; ++k, ++i) {
        const auto subset = static_cast<std::uint32_t>(k % 3);
        reg.worker(k & 1).record(
            {t.request(0, subset), t.arm(0, subset), 200, (i % 97) == 0, lat[i & 4095], 0, 0, sec});
      }
    }
  }
};

void BM_window_query_30s(benchmark::State& state) {
  static filled f;
  const series_id arm = f.t.arm(0, 2);
  for (auto _ : state) {
    const window_stats w = f.reg.query(arm, 30, f.now);
    benchmark::DoNotOptimize(w.success_rate);
    benchmark::DoNotOptimize(w.p99);
  }
  const window_stats w = f.reg.query(arm, 30, f.now);
  state.counters["requests"] = static_cast<double>(w.requests);
  state.counters["p99_ms"] = w.p99 * 1e3;
  state.counters["success"] = w.success_rate;
}
BENCHMARK(BM_window_query_30s)->Unit(benchmark::kMicrosecond);

void BM_second_query(benchmark::State& state) {
  static filled f;
  const series_id arm = f.t.arm(0, 2);
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.reg.second(arm, f.now - 1).counts.requests);
  }
}
BENCHMARK(BM_second_query)->Unit(benchmark::kMicrosecond);

void BM_collect_and_render(benchmark::State& state) {
  static filled f;
  server_metrics server;
  server.rollouts.push_back({"profile-api", "Progressing", 2, {{"canary", 0.05}}});
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::string text = render_prometheus(f.reg.collect(), server);
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_collect_and_render)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
