#pragma once
// Work handed to one io_context's thread by other threads. A worker's
// io_context runs without locks (BOOST_ASIO_CONCURRENCY_HINT_UNSAFE: no mutex
// on each handler it runs), so no other thread may post to it or stop it;
// they put the work here instead, and an eventfd wakes the owner.

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>

#include "net/asio.hpp"

namespace cohort::net {

class mailbox {
 public:
  // Opens the eventfd; throws std::system_error when the process is out of descriptors.
  explicit mailbox(asio::io_context& ctx);
  mailbox(const mailbox&) = delete;
  mailbox& operator=(const mailbox&) = delete;

  // Starts delivering; call before the context runs, or on its thread.
  void start();

  // From any thread: fn runs on the context's thread, in the order posted.
  void post(std::function<void()> fn);

 private:
  void arm();
  void deliver();

  asio::posix::stream_descriptor wake_;
  int fd_;  // wake_'s descriptor, written by other threads without touching wake_
  std::uint64_t count_ = 0;
  std::mutex mutex_;
  std::vector<std::function<void()>> pending_;
};

}  // namespace cohort::net
