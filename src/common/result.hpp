#pragma once
// A value or an error, for fallible construction and expected failures
// (std::expected is C++23; GCC 12 in C++20 mode does not offer it).

#include <string>
#include <utility>
#include <variant>

namespace cohort {

struct error {
  std::string message;
};

template <class T, class E = error>
class result {
 public:
  result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  result(E err) : state_(std::in_place_index<1>, std::move(err)) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const E& err() const { return std::get<1>(state_); }
  E& err() { return std::get<1>(state_); }

 private:
  std::variant<T, E> state_;
};

}  // namespace cohort
