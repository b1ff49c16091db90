#pragma once
// A growable contiguous byte buffer with a read and a write position: the
// connection's input. Parsers see readable() as one string_view.
//
// Storage is taken lazily and can be given back while the connection is idle.
// A read whose size is unknown (the next request on an idle keep-alive
// connection) can start in a small block, promoted to a standard block only
// when the bytes need it. Standard-size blocks come from (and go back to) a
// per-worker block_pool.

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace cohort::net {

class block_pool {
 public:
  static constexpr std::size_t block_size = 16384;
  explicit block_pool(std::size_t max_kept = 4096) : max_kept_(max_kept) {}

  std::unique_ptr<char[]> take() {
    if (blocks_.empty()) {
      return std::unique_ptr<char[]>(new char[block_size]);
    }
    auto b = std::move(blocks_.back());
    blocks_.pop_back();
    return b;
  }
  void give(std::unique_ptr<char[]> block) {
    if (blocks_.size() < max_kept_) {
      blocks_.push_back(std::move(block));
    }
  }
  std::size_t kept() const { return blocks_.size(); }

 private:
  std::size_t max_kept_;
  std::vector<std::unique_ptr<char[]>> blocks_;
};

class flat_buffer {
 public:
  explicit flat_buffer(block_pool* pool = nullptr) : pool_(pool) {}
  ~flat_buffer() { release(); }
  flat_buffer(const flat_buffer&) = delete;
  flat_buffer& operator=(const flat_buffer&) = delete;

  void set_pool(block_pool* pool) { pool_ = pool; }

  std::string_view readable() const { return {data_.get() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) {
      begin_ = end_ = 0;
    }
  }

  // Space for whatever fits in a block of `small` bytes when the buffer holds
  // no storage yet; otherwise the same as prepare(small, small).
  char* prepare_small(std::size_t small) {
    if (!data_) {
      data_.reset(new char[small]);
      cap_ = small;
      return data_.get();
    }
    return prepare(small, small);
  }

  // Space for at least n more bytes (up to max_capacity; less if the cap is hit).
  // May move unread bytes, which invalidates views into readable().
  char* prepare(std::size_t n, std::size_t max_capacity) {
    if (cap_ < block_pool::block_size && cap_ - end_ < n && size() + n <= block_pool::block_size) {
      promote();
    }
    if (!data_) {
      if (pool_ != nullptr) {
        data_ = pool_->take();
        cap_ = block_pool::block_size;
      } else {
        cap_ = block_pool::block_size;
        data_.reset(new char[cap_]);
      }
    }
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
      give_back();
      data_ = std::move(bigger);
      cap_ = new_cap;
    }
    return data_.get() + end_;
  }
  std::size_t writable() const { return cap_ - end_; }
  void commit(std::size_t n) { end_ += n; }
  std::size_t capacity() const { return cap_; }

  // Gives the storage back when nothing is buffered (idle connections hold none).
  void release() {
    if (empty() && data_) {
      give_back();
      cap_ = 0;
      begin_ = end_ = 0;
    }
  }

 private:
  // Moves what a small block holds into a standard one.
  void promote() {
    std::unique_ptr<char[]> block = pool_ != nullptr
                                        ? pool_->take()
                                        : std::unique_ptr<char[]>(new char[block_pool::block_size]);
    if (data_) {
      std::memcpy(block.get(), data_.get() + begin_, end_ - begin_);
    }
    end_ -= begin_;
    begin_ = 0;
    data_ = std::move(block);
    cap_ = block_pool::block_size;
  }

  void give_back() {
    if (pool_ != nullptr && cap_ == block_pool::block_size) {
      pool_->give(std::move(data_));
    } else {
      data_.reset();
    }
  }

  block_pool* pool_;
  std::unique_ptr<char[]> data_;
  std::size_t cap_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace cohort::net
