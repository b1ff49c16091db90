// The common path of decide() must not touch the heap: counted by replacing the
// global allocation functions in this test binary.
#include <atomic>
#include <cstdlib>
#include <new>

#include <gtest/gtest.h>

#include "routing/decision.hpp"
#include "test_support.hpp"

namespace {
std::atomic<long> allocations{0};
}

// GCC cannot see that this operator new is the malloc-based one below, and
// warns that inlined deletes free() what "new" returned.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// The whole family is replaced, so that every allocation in this binary pairs
// malloc with free (sanitizer builds check the pairing).
namespace {
void* counted_alloc(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
}  // namespace

void* operator new(std::size_t n) {
  if (void* p = counted_alloc(n)) {
    return p;
  }
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_alloc(n)) {
    return p;
  }
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return counted_alloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return counted_alloc(n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace cohort::routing {
namespace {

using config::match_kind;
using config::pin_target;
using testing::cohort;
using testing::field;
using testing::header_match;

TEST(NoAllocation, CommonPathDecisions) {
  auto c = testing::base_config();
  auto& ro = c.rollouts[0];
  ro.cohorts.push_back(cohort("internal", header_match(field("X-Cohort", match_kind::exact, "i")),
                              pin_target::canary));
  ro.cohorts.push_back(
      cohort("staff", header_match(field("X-Email", match_kind::suffix, "@corp.example"))));
  ro.cohorts.push_back(
      cohort("ids", header_match(field("X-User-Id", match_kind::regex, "[0-9]+0"))));
  ro.cohorts.push_back(cohort("legacy", header_match(field("X-App", match_kind::semver, "<5.2")),
                              pin_target::stable));
  config::request_match users;
  users.users = {"alice", "bob"};
  ro.cohorts.push_back(cohort("beta", users));
  const auto snap =
      testing::build_ok(c, testing::state_of("profile-api", 2500, rollout_state::mode::progressing,
                                             {"beta", "staff", "ids"}));
  ASSERT_TRUE(snap);

  testing::fake_request bucketed;
  bucketed.header("X-User-Id", "user-123457").header("X-App", "6.0.1").header("Accept", "*/*");
  testing::fake_request pinned;
  pinned.header("X-User-Id", "u1").header("X-Cohort", "i");
  testing::fake_request listed;
  listed.header("X-User-Id", "alice");
  const request_view views[] = {bucketed.view(), pinned.view(), listed.view()};

  // Warm up: RE2 builds its DFA lazily on first use.
  for (const auto& v : views) {
    (void)decide(v, *snap, 1);
  }
  char buf[64];
  const long before = allocations.load();
  std::size_t sink = 0;
  for (int i = 0; i < 1000; ++i) {
    for (const auto& v : views) {
      const decision d = decide(v, *snap, static_cast<std::uint64_t>(i));
      sink += d.format_reason(buf, sizeof buf);
    }
  }
  EXPECT_EQ(allocations.load() - before, 0);
  EXPECT_GT(sink, 0u);
  // And the counter does count: reason() allocates.
  const long mark = allocations.load();
  const std::string r = decide(views[0], *snap, 0).reason();
  EXPECT_GT(allocations.load() - mark, 0);
}

}  // namespace
}  // namespace cohort::routing
