#include "store/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace cohort::store {
namespace {

class sqlite_store_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cohort-store-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string spec() const { return "sqlite:" + (dir_ / "state.db").string(); }

  std::unique_ptr<state_store> open() {
    auto s = open_store(spec());
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.err().message);
    return s.ok() ? std::move(s.value()) : nullptr;
  }

  std::filesystem::path dir_;
};

TEST_F(sqlite_store_test, get_of_missing_key_is_not_found) {
  auto s = open();
  const auto got = s->get("rollouts/profile-api");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.err().code, store_errc::not_found);
}

TEST_F(sqlite_store_test, compare_and_swap_semantics) {
  auto s = open();
  const auto first = s->put_if("rollouts/a", "v1", 0);
  ASSERT_TRUE(first.ok()) << first.err().message;
  EXPECT_GT(*first, 0u);

  // Creating again is a conflict: expected 0 means "must not exist".
  const auto again = s->put_if("rollouts/a", "other", 0);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.err().code, store_errc::conflict);

  const auto second = s->put_if("rollouts/a", "v2", *first);
  ASSERT_TRUE(second.ok());
  EXPECT_GT(*second, *first);

  // A stale revision loses and leaves the value alone.
  const auto stale = s->put_if("rollouts/a", "v3", *first);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.err().code, store_errc::conflict);

  const auto got = s->get("rollouts/a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->value, "v2");
  EXPECT_EQ(got->rev, *second);
}

TEST_F(sqlite_store_test, revisions_are_store_wide_and_increasing) {
  auto s = open();
  const auto a = s->put_if("a", "1", 0);
  const auto b = s->put_if("b", "1", 0);
  const auto a2 = s->put_if("a", "2", *a);
  ASSERT_TRUE(a.ok() && b.ok() && a2.ok());
  EXPECT_LT(*a, *b);
  EXPECT_LT(*b, *a2);
}

TEST_F(sqlite_store_test, values_are_binary_safe) {
  auto s = open();
  const std::string value("a\0b\xff", 4);
  ASSERT_TRUE(s->put_if("k", value, 0).ok());
  EXPECT_EQ(s->get("k")->value, value);
}

TEST_F(sqlite_store_test, list_returns_only_the_prefix_in_key_order) {
  auto s = open();
  ASSERT_TRUE(s->put_if("rollouts/b", "B", 0).ok());
  ASSERT_TRUE(s->put_if("rollouts/a", "A", 0).ok());
  ASSERT_TRUE(s->put_if("leases/x", "X", 0).ok());
  const auto l = s->list("rollouts/");
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0].key, "rollouts/a");
  EXPECT_EQ((*l)[0].value, "A");
  EXPECT_EQ((*l)[1].key, "rollouts/b");
  EXPECT_EQ(s->list("")->size(), 3u);
  EXPECT_TRUE(s->list("nothing/")->empty());
}

TEST_F(sqlite_store_test, watch_reports_changes_after_the_cursor) {
  auto s = open();
  auto w0 = s->watch("rollouts/", 0);
  ASSERT_TRUE(w0.ok());
  EXPECT_TRUE(w0->changes.empty());

  const auto ra = s->put_if("rollouts/a", "1", 0);
  ASSERT_TRUE(s->put_if("other/z", "1", 0).ok());
  auto w1 = s->watch("rollouts/", w0->cursor);
  ASSERT_TRUE(w1.ok());
  ASSERT_EQ(w1->changes.size(), 1u);
  EXPECT_EQ(w1->changes[0].key, "rollouts/a");

  // Nothing new under the prefix: empty, and the cursor does not go back.
  auto w2 = s->watch("rollouts/", w1->cursor);
  ASSERT_TRUE(w2.ok());
  EXPECT_TRUE(w2->changes.empty());
  EXPECT_GE(w2->cursor, w1->cursor);

  ASSERT_TRUE(s->put_if("rollouts/a", "2", *ra).ok());
  auto w3 = s->watch("rollouts/", w2->cursor);
  ASSERT_TRUE(w3.ok());
  ASSERT_EQ(w3->changes.size(), 1u);
  EXPECT_EQ(w3->changes[0].value, "2");
}

TEST_F(sqlite_store_test, reopen_after_close_keeps_data) {
  revision rev = 0;
  {
    auto s = open();
    const auto r = s->put_if("rollouts/a", "persisted", 0);
    ASSERT_TRUE(r.ok());
    rev = *r;
  }
  auto s = open();
  const auto got = s->get("rollouts/a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->value, "persisted");
  EXPECT_EQ(got->rev, rev);
  // New revisions continue above the old ones.
  const auto next = s->put_if("rollouts/b", "x", 0);
  ASSERT_TRUE(next.ok());
  EXPECT_GT(*next, rev);
}

TEST_F(sqlite_store_test, two_handles_on_one_file_see_each_other_and_conflict) {
  auto one = open();
  auto two = open();
  const auto created = one->put_if("rollouts/a", "from-one", 0);
  ASSERT_TRUE(created.ok());
  const auto seen = two->get("rollouts/a");
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->value, "from-one");

  // Both computed their transition from the same revision: only one wins.
  const auto w1 = one->put_if("rollouts/a", "one-advances", seen->rev);
  const auto w2 = two->put_if("rollouts/a", "two-advances", seen->rev);
  EXPECT_TRUE(w1.ok());
  ASSERT_FALSE(w2.ok());
  EXPECT_EQ(w2.err().code, store_errc::conflict);
  EXPECT_EQ(two->get("rollouts/a")->value, "one-advances");
}

TEST_F(sqlite_store_test, concurrent_writers_never_both_win) {
  auto setup = open();
  const auto base = setup->put_if("counter", "0", 0);
  ASSERT_TRUE(base.ok());

  // Each thread has its own connection (as separate processes would) and
  // races to advance the same revision; exactly one may win each round.
  constexpr int threads = 4;
  constexpr int rounds = 25;
  std::vector<std::unique_ptr<state_store>> handles;
  for (int i = 0; i < threads; ++i) {
    handles.push_back(open());
  }
  std::atomic<int> wins{0};
  std::atomic<int> io_errors{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int r = 0; r < rounds; ++r) {
        const auto cur = handles[t]->get("counter");
        if (!cur.ok()) {
          ++io_errors;
          continue;
        }
        const int n = std::stoi(cur->value);
        const auto put = handles[t]->put_if("counter", std::to_string(n + 1), cur->rev);
        if (put.ok()) {
          ++wins;
        } else if (put.err().code != store_errc::conflict) {
          ++io_errors;
        }
      }
    });
  }
  for (auto& w : workers) {
    w.join();
  }
  EXPECT_EQ(io_errors.load(), 0);
  // Every win incremented from the value it read: lost updates would make the
  // counter smaller than the number of wins.
  EXPECT_EQ(std::stoi(setup->get("counter")->value), wins.load());
  EXPECT_GE(wins.load(), rounds);
}

TEST(open_store, rejects_unknown_schemes) {
  const auto s = open_store("redis://localhost");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err().code, store_errc::invalid);
  EXPECT_FALSE(open_store("sqlite:").ok());
}

TEST(open_store, unwritable_path_is_an_error_value) {
  const auto s = open_store("sqlite:/nonexistent-dir/for/sure/state.db");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err().code, store_errc::io);
}

}  // namespace
}  // namespace cohort::store
