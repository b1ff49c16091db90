#include "store/sqlite_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <utility>

namespace cohort::store {

namespace {

// How long a writer waits for another process's write lock before giving up.
constexpr int busy_timeout_ms = 5000;

// One prepared statement, finalised on every path.
class statement {
 public:
  statement(sqlite3* db, const char* sql) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~statement() { sqlite3_finalize(stmt_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  bool ok() const { return rc_ == SQLITE_OK; }
  void bind(int index, std::string_view text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void bind_blob(int index, std::string_view bytes) {
    sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  }
  void bind(int index, revision rev) {
    sqlite3_bind_int64(stmt_, index, static_cast<sqlite3_int64>(rev));
  }
  int step() { return sqlite3_step(stmt_); }
  std::string text(int column) const {
    const auto* p = sqlite3_column_blob(stmt_, column);
    const int n = sqlite3_column_bytes(stmt_, column);
    return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
  }
  revision rev(int column) const {
    return static_cast<revision>(sqlite3_column_int64(stmt_, column));
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

bool exec(sqlite3* db, const char* sql) {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

// Rolls back an open transaction unless it was committed.
class transaction {
 public:
  explicit transaction(sqlite3* db) : db_(db) {}
  ~transaction() {
    if (open_) {
      exec(db_, "ROLLBACK");
    }
  }
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;

  bool begin(const char* sql) {
    open_ = exec(db_, sql);
    return open_;
  }
  bool commit() {
    const bool ok = exec(db_, "COMMIT");
    open_ = !ok;
    return ok;
  }

 private:
  sqlite3* db_;
  bool open_ = false;
};

constexpr const char* prefix_clause = "substr(key, 1, length(?1)) = ?1";

}  // namespace

const char* to_string(store_errc code) {
  switch (code) {
    case store_errc::not_found:
      return "not found";
    case store_errc::conflict:
      return "conflict";
    case store_errc::invalid:
      return "invalid";
    case store_errc::io:
      return "io";
  }
  return "io";
}

result<std::unique_ptr<state_store>, store_error> open_store(std::string_view spec) {
  constexpr std::string_view sqlite_prefix = "sqlite:";
  if (spec.substr(0, sqlite_prefix.size()) == sqlite_prefix) {
    const std::string path(spec.substr(sqlite_prefix.size()));
    if (path.empty()) {
      return store_error{store_errc::invalid, "sqlite: needs a file path"};
    }
    auto opened = sqlite_store::open(path);
    if (!opened) {
      return opened.err();
    }
    return std::unique_ptr<state_store>(std::move(opened.value()));
  }
  return store_error{store_errc::invalid,
                     "unsupported state store '" + std::string(spec) + "' (expected sqlite:PATH)"};
}

result<std::unique_ptr<sqlite_store>, store_error> sqlite_store::open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message =
        "cannot open " + path + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return store_error{store_errc::io, std::move(message)};
  }
  std::unique_ptr<sqlite_store> store(new sqlite_store(db));
  sqlite3_busy_timeout(db, busy_timeout_ms);
  // WAL lets readers proceed during a write; FULL syncs the WAL on every
  // commit, so a transition survives kill -9 (and power loss) once put_if returned.
  if (!exec(db, "PRAGMA journal_mode=WAL") || !exec(db, "PRAGMA synchronous=FULL") ||
      !exec(db,
            "CREATE TABLE IF NOT EXISTS state ("
            "key TEXT PRIMARY KEY, value BLOB NOT NULL, revision INTEGER NOT NULL)")) {
    return store->fail(("cannot initialise " + path).c_str());
  }
  return store;
}

sqlite_store::~sqlite_store() {
  sqlite3_close(db_);
}

store_error sqlite_store::fail(const char* what) const {
  return store_error{store_errc::io, std::string(what) + ": " + sqlite3_errmsg(db_)};
}

result<versioned_value, store_error> sqlite_store::get(std::string_view key) {
  statement s(db_, "SELECT value, revision FROM state WHERE key = ?1");
  if (!s.ok()) {
    return fail("get");
  }
  s.bind(1, key);
  const int rc = s.step();
  if (rc == SQLITE_ROW) {
    return versioned_value{s.text(0), s.rev(1)};
  }
  if (rc == SQLITE_DONE) {
    return store_error{store_errc::not_found, "no key " + std::string(key)};
  }
  return fail("get");
}

result<revision, store_error> sqlite_store::put_if(std::string_view key, std::string_view value,
                                                   revision expected) {
  // IMMEDIATE takes the write lock before reading, so the compare and the swap
  // see the same state even with another process on the file.
  transaction tx(db_);
  if (!tx.begin("BEGIN IMMEDIATE")) {
    return fail("put_if: begin");
  }
  revision current = 0;
  {
    statement s(db_, "SELECT revision FROM state WHERE key = ?1");
    if (!s.ok()) {
      return fail("put_if: select");
    }
    s.bind(1, key);
    const int rc = s.step();
    if (rc == SQLITE_ROW) {
      current = s.rev(0);
    } else if (rc != SQLITE_DONE) {
      return fail("put_if: select");
    }
  }
  if (current != expected) {
    return store_error{store_errc::conflict, "key " + std::string(key) + " is at revision " +
                                                 std::to_string(current) + ", not " +
                                                 std::to_string(expected)};
  }
  revision next = 0;
  {
    statement s(db_, "SELECT COALESCE(MAX(revision), 0) + 1 FROM state");
    if (!s.ok() || s.step() != SQLITE_ROW) {
      return fail("put_if: revision");
    }
    next = s.rev(0);
  }
  {
    statement s(
        db_,
        "INSERT INTO state (key, value, revision) VALUES (?1, ?2, ?3) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, revision = excluded.revision");
    if (!s.ok()) {
      return fail("put_if: write");
    }
    s.bind(1, key);
    s.bind_blob(2, value);
    s.bind(3, next);
    if (s.step() != SQLITE_DONE) {
      return fail("put_if: write");
    }
  }
  if (!tx.commit()) {
    return fail("put_if: commit");
  }
  return next;
}

result<std::vector<entry>, store_error> sqlite_store::list(std::string_view prefix) {
  const std::string sql = std::string("SELECT key, value, revision FROM state WHERE ") +
                          prefix_clause + " ORDER BY key";
  statement s(db_, sql.c_str());
  if (!s.ok()) {
    return fail("list");
  }
  s.bind(1, prefix);
  std::vector<entry> out;
  int rc = 0;
  while ((rc = s.step()) == SQLITE_ROW) {
    out.push_back(entry{s.text(0), s.text(1), s.rev(2)});
  }
  if (rc != SQLITE_DONE) {
    return fail("list");
  }
  return out;
}

result<watch_batch, store_error> sqlite_store::watch(std::string_view prefix, revision after) {
  // One read transaction: the cursor and the changes come from the same state.
  transaction tx(db_);
  if (!tx.begin("BEGIN")) {
    return fail("watch: begin");
  }
  watch_batch batch;
  {
    const std::string sql = std::string("SELECT key, value, revision FROM state WHERE ") +
                            prefix_clause + " AND revision > ?2 ORDER BY revision";
    statement s(db_, sql.c_str());
    if (!s.ok()) {
      return fail("watch");
    }
    s.bind(1, prefix);
    s.bind(2, after);
    int rc = 0;
    while ((rc = s.step()) == SQLITE_ROW) {
      batch.changes.push_back(entry{s.text(0), s.text(1), s.rev(2)});
    }
    if (rc != SQLITE_DONE) {
      return fail("watch");
    }
  }
  {
    statement s(db_, "SELECT COALESCE(MAX(revision), 0) FROM state");
    if (!s.ok() || s.step() != SQLITE_ROW) {
      return fail("watch: revision");
    }
    batch.cursor = std::max(after, s.rev(0));
  }
  tx.commit();
  return batch;
}

}  // namespace cohort::store
