// The cost of one routing decision. The reference is XXH3 of a user id alone:
// a bucket decision cannot be cheaper than that, and cohorts add their matchers.
// Run: build/bench/routing_bench   (Time is nanoseconds per decision)
#include <cstdio>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <xxhash.h>

#include "routing/decision.hpp"
#include "routing/snapshot.hpp"

namespace {

using namespace cohort;
using namespace cohort::routing;
using config::match_kind;

config::field_match field(std::string name, match_kind kind, std::string value = {}) {
  config::field_match f;
  f.name = std::move(name);
  f.kind = kind;
  f.value = std::move(value);
  return f;
}

config::cohort_config header_cohort(std::string name, config::field_match f,
                                    config::pin_target pin = config::pin_target::none) {
  config::cohort_config c;
  c.name = std::move(name);
  c.match.headers.push_back(std::move(f));
  c.pin = pin;
  return c;
}

config::config base(bool cohorts) {
  config::config c;
  config::service_config s;
  s.name = "profile-api";
  s.subsets.push_back({"stable", {{"127.0.0.1", 9001}}, {}});
  s.subsets.push_back({"baseline", {{"127.0.0.1", 9003}}, {}});
  s.subsets.push_back({"canary", {{"127.0.0.1", 9101}}, {}});
  c.services.push_back(s);
  config::route_config r;
  r.name = "profile";
  r.match.path_prefix = "/profile";
  r.service = "profile-api";
  c.routes.push_back(r);
  config::rollout_config ro;
  ro.name = "profile-api";
  ro.service = "profile-api";
  ro.baseline = "baseline";
  config::key_source k;
  k.kind = config::key_source_kind::header;
  k.name = "X-User-Id";
  ro.session.key.push_back(k);
  if (cohorts) {
    using config::pin_target;
    ro.cohorts.push_back(header_cohort(
        "internal", field("X-User-Cohort", match_kind::exact, "internal"), pin_target::canary));
    ro.cohorts.push_back(header_cohort(
        "legacy-mobile", field("X-App-Version", match_kind::semver, "<5.2.0"), pin_target::stable));
    config::cohort_config beta;
    beta.name = "beta";
    beta.match.users = {"2048", "4096", "8192", "16384", "32768"};
    ro.cohorts.push_back(beta);
    ro.cohorts.push_back(
        header_cohort("ids-ending-0", field("X-User-Id", match_kind::regex, ".*0$")));
    ro.cohorts.push_back(header_cohort(
        "employees", field("X-Email", match_kind::regex, "[a-z.]+@(corp|staff)\\.example\\.com")));
    ro.cohorts.push_back(header_cohort("qa", field("X-Qa", match_kind::present)));
    ro.cohorts.push_back(header_cohort("eu", field("X-Region", match_kind::prefix, "eu-")));
    ro.cohorts.push_back(header_cohort("tablets", field("User-Agent", match_kind::suffix, "iPad")));
    config::cohort_config plan;
    plan.name = "enterprise";
    plan.match.cookies.push_back(field("plan", match_kind::exact, "enterprise"));
    ro.cohorts.push_back(plan);
    config::cohort_config preview;
    preview.name = "preview";
    preview.match.query.push_back(field("preview", match_kind::present));
    ro.cohorts.push_back(preview);
  }
  c.rollouts.push_back(ro);
  return c;
}

// joined: the cohorts a step has added. Cohorts neither pinned nor joined
// cannot change a decision and are not evaluated at all.
std::shared_ptr<const snapshot> build(bool cohorts, std::vector<std::string> joined = {"beta"}) {
  rollout_states states;
  states["profile-api"] = rollout_state{rollout_state::mode::progressing, 2500, {}};
  if (cohorts) {
    states["profile-api"].joined_cohorts = std::move(joined);
  }
  auto r = snapshot::build(base(cohorts), states);
  if (!r.ok()) {
    std::fprintf(stderr, "snapshot: %s\n", r.err().front().message.c_str());
    std::abort();
  }
  return std::move(r).value();
}

// A realistic mobile request that no cohort of the set above matches.
const std::vector<header_field> headers = {
    {"Host", "api.example.com"},
    {"User-Agent", "ProfileApp/6.1.0 (iPhone; iOS 17.2)"},
    {"Accept", "application/json"},
    {"Accept-Encoding", "gzip"},
    {"X-App-Version", "6.1.0"},
    {"X-User-Id", "user-123457"},
    {"X-Email", "someone@gmail.com"},
    {"X-Region", "us-east-1"},
    {"Cookie", "theme=dark; plan=free; session=abc"},
};

request_view request() {
  return request_view{"GET", "/profile/me", "fields=all", "api.example.com", headers, "10.0.0.7"};
}

void BM_xxh3_user_id(benchmark::State& state) {
  const std::string_view id = "user-123457";
  const std::uint64_t seed = XXH3_64bits("profile-api", 11);
  for (auto _ : state) {
    benchmark::DoNotOptimize(XXH3_64bits_withSeed(id.data(), id.size(), seed));
  }
}
BENCHMARK(BM_xxh3_user_id);

void BM_decide_bucket(benchmark::State& state) {
  const auto snap = build(false);
  const request_view v = request();
  for (auto _ : state) {
    benchmark::DoNotOptimize(decide(v, *snap, 0));
  }
}
BENCHMARK(BM_decide_bucket);

// Decides the benchmark request on snap, which must leave it to the bucket:
// the figure is the cost of evaluating every cohort without a match.
void decide_without_cohort_match(benchmark::State& state, const snapshot& snap) {
  const request_view v = request();
  const decision d = decide(v, snap, 0);
  if (d.kind != reason_kind::bucket_canary && d.kind != reason_kind::bucket_stable &&
      d.kind != reason_kind::baseline) {
    state.SkipWithError(("a cohort matched: " + d.reason()).c_str());
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(decide(v, snap, 0));
  }
}

void BM_decide_ten_cohorts_none_match(benchmark::State& state) {
  decide_without_cohort_match(state, *build(true));
}
BENCHMARK(BM_decide_ten_cohorts_none_match);

// The same request and cohorts, every cohort added by a step, so every one of
// them is evaluated (the rollout at its last step before promotion).
void BM_decide_ten_cohorts_all_joined(benchmark::State& state) {
  const auto snap = build(
      true, {"beta", "ids-ending-0", "employees", "qa", "eu", "tablets", "enterprise", "preview"});
  decide_without_cohort_match(state, *snap);
}
BENCHMARK(BM_decide_ten_cohorts_all_joined);

void BM_format_reason(benchmark::State& state) {
  const auto snap = build(false);
  const decision d = decide(request(), *snap, 0);
  char buf[64];
  for (auto _ : state) {
    benchmark::DoNotOptimize(d.format_reason(buf, sizeof buf));
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_format_reason);

}  // namespace

BENCHMARK_MAIN();
