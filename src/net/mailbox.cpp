#include "net/mailbox.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace cohort::net {

namespace {

int open_eventfd() {
  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(), "eventfd");
  }
  return fd;
}

}  // namespace

mailbox::mailbox(asio::io_context& ctx) : wake_(ctx, open_eventfd()), fd_(wake_.native_handle()) {}

void mailbox::start() {
  arm();
}

void mailbox::post(std::function<void()> fn) {
  {
    const std::lock_guard lock(mutex_);
    pending_.push_back(std::move(fn));
  }
  const std::uint64_t one = 1;
  // EAGAIN only when the counter is near 2^64: the reader is woken already.
  [[maybe_unused]] const auto n = ::write(fd_, &one, sizeof one);
}

void mailbox::arm() {
  wake_.async_read_some(asio::buffer(&count_, sizeof count_),
                        [this](const error_code& ec, std::size_t) {
                          if (ec) {
                            return;  // aborted: the descriptor closes with its owner
                          }
                          deliver();
                          arm();
                        });
}

void mailbox::deliver() {
  std::vector<std::function<void()>> ready;
  {
    const std::lock_guard lock(mutex_);
    ready.swap(pending_);
  }
  for (auto& fn : ready) {
    fn();
  }
}

}  // namespace cohort::net
