#pragma once
// A store::state_store in memory, with failure injection: the test keeps a
// handle on its contents (memory_store::shared) and can make every write
// fail, as a full disk or a read-only state file does, while the controller
// owns the store object. Two controllers built one after the other on the
// same contents see each other's writes, as two processes on one SQLite file.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/state_store.hpp"

namespace cohort::testing {

class memory_store final : public store::state_store {
 public:
  struct contents {
    std::map<std::string, store::versioned_value, std::less<>> values;
    store::revision last = 0;
    bool fail_writes = false;  // put_if answers store_errc::io, as a read-only file would
    std::uint64_t writes = 0;  // successful put_if calls
    std::uint64_t refused = 0;

    // The stored value of a key, or "" when there is none.
    std::string value(std::string_view key) const {
      const auto it = values.find(key);
      return it == values.end() ? std::string() : it->second.value;
    }
  };

  explicit memory_store(std::shared_ptr<contents> data) : data_(std::move(data)) {}

  result<store::versioned_value, store::store_error> get(std::string_view key) override {
    const auto it = data_->values.find(key);
    if (it == data_->values.end()) {
      return store::store_error{store::store_errc::not_found, std::string(key)};
    }
    return it->second;
  }

  result<store::revision, store::store_error> put_if(std::string_view key, std::string_view value,
                                                     store::revision expected) override {
    if (data_->fail_writes) {
      ++data_->refused;
      return store::store_error{store::store_errc::io, "attempt to write a readonly database"};
    }
    const auto it = data_->values.find(key);
    const store::revision current = it == data_->values.end() ? 0 : it->second.rev;
    if (current != expected) {
      return store::store_error{store::store_errc::conflict, std::string(key)};
    }
    data_->values[std::string(key)] = {std::string(value), ++data_->last};
    ++data_->writes;
    return data_->last;
  }

  result<std::vector<store::entry>, store::store_error> list(std::string_view prefix) override {
    std::vector<store::entry> out;
    for (const auto& [key, v] : data_->values) {
      if (key.rfind(prefix, 0) == 0) {
        out.push_back({key, v.value, v.rev});
      }
    }
    return out;
  }

  result<store::watch_batch, store::store_error> watch(std::string_view prefix,
                                                       store::revision after) override {
    store::watch_batch batch;
    batch.cursor = data_->last;
    for (const auto& [key, v] : data_->values) {
      if (key.rfind(prefix, 0) == 0 && v.rev > after) {
        batch.changes.push_back({key, v.value, v.rev});
      }
    }
    return batch;
  }

 private:
  std::shared_ptr<contents> data_;
};

}  // namespace cohort::testing
