#pragma once
// A growable contiguous byte buffer with a read and a write position: the
// connection's input. Parsers see readable() as one string_view.

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace cohort::net {

class flat_buffer {
 public:
  explicit flat_buffer(std::size_t initial = 16384) : data_(new char[initial]), cap_(initial) {}

  std::string_view readable() const { return {data_.get() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) {
      begin_ = end_ = 0;
    }
  }

  // Space for at least n more bytes (up to max_capacity; less if the cap is hit).
  // Moves unread bytes to the front first, which invalidates views into readable().
  char* prepare(std::size_t n, std::size_t max_capacity) {
    if (cap_ - end_ < n && begin_ > 0) {
      std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (cap_ - end_ < n && cap_ < max_capacity) {
      std::size_t new_cap = cap_ * 2;
      while (new_cap - end_ < n && new_cap < max_capacity) {
        new_cap *= 2;
      }
      new_cap = new_cap < max_capacity ? new_cap : max_capacity;
      std::unique_ptr<char[]> bigger(new char[new_cap]);
      std::memcpy(bigger.get(), data_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
      data_ = std::move(bigger);
      cap_ = new_cap;
    }
    return data_.get() + end_;
  }
  std::size_t writable() const { return cap_ - end_; }
  void commit(std::size_t n) { end_ += n; }
  std::size_t capacity() const { return cap_; }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t cap_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace cohort::net
