#pragma once
// The state store: a small key-value interface with compare-and-swap on a
// revision, so that every rollout transition is computed from a known state and
// two controllers sharing a store can never both apply theirs. SQLite is the
// embedded implementation; etcd can implement the same interface (its
// mod_revision is our revision, its watch our watch).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace cohort::store {

enum class store_errc {
  not_found,  // get() of a key that does not exist
  conflict,   // put_if() whose expected revision is not the current one
  invalid,    // a bad store specification
  io,         // the backend failed (disk, lock timeout, connection)
};

const char* to_string(store_errc code);

struct store_error {
  store_errc code = store_errc::io;
  std::string message;
};

// Revisions are store-wide and strictly increasing: every successful put_if
// gets a revision above any the store has handed out, as etcd's do.
using revision = std::uint64_t;

struct versioned_value {
  std::string value;
  revision rev = 0;
};

struct entry {
  std::string key;
  std::string value;
  revision rev = 0;
};

// What changed under a prefix after a revision, and the cursor for the next call.
struct watch_batch {
  std::vector<entry> changes;  // latest value of each changed key, by revision
  revision cursor = 0;         // pass back as `after` to see only newer changes
};

class state_store {
 public:
  virtual ~state_store() = default;

  virtual result<versioned_value, store_error> get(std::string_view key) = 0;

  // Writes value when the key's current revision is `expected` (0: the key
  // must not exist). Returns the new revision, or store_errc::conflict. Once it
  // returns ok the write is durable.
  virtual result<revision, store_error> put_if(std::string_view key, std::string_view value,
                                               revision expected) = 0;

  // Every key starting with prefix, in key order.
  virtual result<std::vector<entry>, store_error> list(std::string_view prefix) = 0;

  // Keys under prefix written after revision `after`. A poll for SQLite; a
  // stream position for etcd. Call with after = 0 for everything.
  virtual result<watch_batch, store_error> watch(std::string_view prefix, revision after) = 0;
};

// Opens a store from the configuration string: "sqlite:PATH".
result<std::unique_ptr<state_store>, store_error> open_store(std::string_view spec);

}  // namespace cohort::store
