#pragma once
// The embedded state store: one SQLite file in WAL mode with synchronous=FULL,
// one table (key, value, revision). put_if runs in a BEGIN IMMEDIATE
// transaction, so two processes sharing the file serialise on the write lock
// and cannot both win a compare-and-swap.

#include <memory>
#include <string>

#include "store/state_store.hpp"

struct sqlite3;

namespace cohort::store {

class sqlite_store final : public state_store {
 public:
  static result<std::unique_ptr<sqlite_store>, store_error> open(const std::string& path);

  ~sqlite_store() override;
  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;

  result<versioned_value, store_error> get(std::string_view key) override;
  result<revision, store_error> put_if(std::string_view key, std::string_view value,
                                       revision expected) override;
  result<std::vector<entry>, store_error> list(std::string_view prefix) override;
  result<watch_batch, store_error> watch(std::string_view prefix, revision after) override;

 private:
  explicit sqlite_store(sqlite3* db) : db_(db) {}
  store_error fail(const char* what) const;

  sqlite3* db_;
};

}  // namespace cohort::store
