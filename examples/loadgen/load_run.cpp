#include "load_run.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <memory>
#include <random>
#include <string>

#include "http/chunked.hpp"
#include "http/message.hpp"
#include "http/parser.hpp"
#include "net/asio.hpp"
#include "net/flat_buffer.hpp"
#include "net/watchdog.hpp"
#include "response_version.hpp"

namespace cohort::loadgen {

namespace {

using namespace boost::asio::experimental::awaitable_operators;
using net::awaitable;
using net::error_code;
using net::tcp;
using net::use_nothrow;
namespace asio = net::asio;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t max_queue_per_connection = 256;
constexpr std::size_t max_response_bytes = std::size_t{1} << 20;
constexpr std::size_t read_chunk = 16384;

double seconds_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct job {
  std::uint32_t user_index = 0;
  clock_type::time_point due;  // latency counts from here: queueing in the client is included
};

class runner;

class connection {
 public:
  explicit connection(runner& r);
  awaitable<void> run();
  bool push(job j) {
    if (queue_.size() >= max_queue_per_connection) {
      return false;
    }
    queue_.push_back(j);
    wake_.cancel();
    return true;
  }
  // Finish the queue, then close. Requests still queued after the drain deadline
  // are abandoned, so a stalled target cannot hold the run for queue x timeout.
  void close_when_idle() {
    closing_ = true;
    wake_.cancel();
  }

 private:
  enum class read_kind { ok, stale, io, timeout };
  struct read_outcome {
    read_kind kind = read_kind::io;
    unsigned status = 0;
    std::string version;
  };

  awaitable<void> serve();
  awaitable<void> exchange(job j);
  awaitable<read_outcome> read_response(user& u);
  awaitable<bool> read_more();  // false on EOF or error
  void close() {
    error_code ec;
    socket_.close(ec);
    in_.consume(in_.size());
  }
  std::string build_request(const user& u) const;

  runner& r_;
  tcp::socket socket_;
  asio::steady_timer wake_;
  net::watchdog dog_;
  net::flat_buffer in_;
  std::deque<job> queue_;
  bool closing_ = false;
  bool read_anything_ = false;
};

class runner {
 public:
  runner(const options& opts, std::vector<user>& users, tally& t)
      : opts_(opts),
        users_(users),
        tally_(t),
        rng_(opts.seed ^ 0x9e3779b97f4a7c15ULL),
        report_timer_(ctx_),
        signals_(ctx_, SIGINT, SIGTERM) {}

  run_result run() {
    tcp::resolver resolver(ctx_);
    error_code ec;
    const auto results = resolver.resolve(opts_.host, std::to_string(opts_.port), ec);
    if (ec || results.empty()) {
      result_.unreachable_why = "cannot resolve " + opts_.host + ": " + ec.message();
      return result_;
    }
    endpoint_ = results.begin()->endpoint();
    asio::co_spawn(ctx_, pace(), asio::detached);
    ctx_.run();
    result_.elapsed_s = seconds_between(start_, clock_type::now());
    return result_;
  }

  asio::io_context& ctx() { return ctx_; }
  const options& opts() const { return opts_; }
  const tcp::endpoint& endpoint() const { return endpoint_; }
  std::vector<user>& users() { return users_; }
  tally& stats() { return tally_; }
  clock_type::time_point start() const { return start_; }
  clock_type::time_point drain_deadline() const { return drain_deadline_; }

 private:
  awaitable<void> pace();
  awaitable<void> report();
  awaitable<bool> probe();

  asio::io_context ctx_;
  const options& opts_;
  std::vector<user>& users_;
  tally& tally_;
  std::mt19937_64 rng_;
  asio::steady_timer report_timer_;
  // SIGINT/SIGTERM end the sending early; the run still drains and reports, so
  // a caller that does not know the run's length (the demo) can stop it.
  asio::signal_set signals_;
  asio::steady_timer* pacer_timer_ = nullptr;
  bool interrupted_ = false;
  tcp::endpoint endpoint_;
  std::vector<std::unique_ptr<connection>> conns_;
  clock_type::time_point start_ = clock_type::now();
  clock_type::time_point drain_deadline_ = clock_type::time_point::max();
  bool stopping_ = false;
  run_result result_;
};

connection::connection(runner& r) : r_(r), socket_(r.ctx()), wake_(r.ctx()), dog_(r.ctx()) {}

awaitable<void> connection::run() {
  co_await dog_.watch(serve(), [this] {
    error_code ec;
    socket_.close(ec);  // aborts whatever the exchange is waiting for
  });
}

awaitable<void> connection::serve() {
  for (;;) {
    while (queue_.empty() && !closing_) {
      wake_.expires_at(clock_type::time_point::max());
      co_await wake_.async_wait(use_nothrow);
    }
    if (queue_.empty()) {
      break;
    }
    if (closing_ && clock_type::now() > r_.drain_deadline()) {
      for (; !queue_.empty(); queue_.pop_front()) {
        r_.stats().fail(failure::abandoned);
      }
      break;
    }
    const job j = queue_.front();
    queue_.pop_front();
    co_await exchange(j);
  }
  close();
  dog_.stop();
}

std::string connection::build_request(const user& u) const {
  const options& o = r_.opts();
  std::string req;
  req.reserve(256);
  req += "GET ";
  req += o.path;
  req += " HTTP/1.1\r\nHost: ";
  req += o.host;
  req += ':';
  req += std::to_string(o.port);
  req += "\r\nUser-Agent: cohort-loadgen\r\nAccept: application/json\r\n";
  if (u.kind != cohort_kind::anonymous) {
    req += "X-User-Id: ";
    req += std::to_string(u.id);
    req += "\r\n";
  } else if (!u.cookies.empty()) {
    req += "Cookie: ";
    req += u.cookies.header();
    req += "\r\n";
  }
  if (u.kind == cohort_kind::internal) {
    req += "X-User-Cohort: internal\r\n";
  }
  req += "X-App-Version: ";
  req += u.app_version;
  req += "\r\n\r\n";
  return req;
}

awaitable<void> connection::exchange(job j) {
  user& u = r_.users()[j.user_index];
  tally& t = r_.stats();
  const std::string request = build_request(u);
  dog_.reset_expired();
  dog_.arm(r_.opts().timeout, net::deadline_kind::upstream_response);
  // At most two attempts: a second one only when a reused keep-alive connection
  // turned out to be closed by the server before it answered anything.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool fresh = false;
    if (!socket_.is_open()) {
      const auto [ec] = co_await socket_.async_connect(r_.endpoint(), use_nothrow);
      if (ec) {
        close();
        dog_.disarm();
        t.fail(dog_.expired() != net::deadline_kind::none ? failure::timeout : failure::connect);
        co_return;
      }
      socket_.set_option(tcp::no_delay(true));
      fresh = true;
    }
    const auto [wec, written] =
        co_await asio::async_write(socket_, asio::buffer(request), use_nothrow);
    (void)written;
    const bool expired = dog_.expired() != net::deadline_kind::none;
    if (wec) {
      close();
      if (!fresh && !expired) {
        continue;
      }
      dog_.disarm();
      t.fail(expired ? failure::timeout : failure::io);
      co_return;
    }
    const read_outcome out = co_await read_response(u);
    if (out.kind == read_kind::stale && !fresh) {
      close();
      continue;
    }
    dog_.disarm();
    if (out.kind != read_kind::ok) {
      close();
      t.fail(out.kind == read_kind::timeout ? failure::timeout : failure::io);
      co_return;
    }
    const auto now = clock_type::now();
    t.response(u, out.status, out.version, seconds_between(j.due, now) * 1000.0,
               seconds_between(r_.start(), now));
    co_return;
  }
  dog_.disarm();
  t.fail(failure::io);
}

awaitable<bool> connection::read_more() {
  char* p = in_.prepare(read_chunk, max_response_bytes + read_chunk);
  if (in_.writable() == 0) {
    co_return false;
  }
  const auto [ec, n] =
      co_await socket_.async_read_some(asio::buffer(p, in_.writable()), use_nothrow);
  if (n > 0) {
    in_.commit(n);
    read_anything_ = true;
  }
  co_return !ec || n > 0;
}

awaitable<connection::read_outcome> connection::read_response(user& u) {
  read_outcome out;
  read_anything_ = false;
  const auto failed = [&] {
    if (dog_.expired() != net::deadline_kind::none) {
      out.kind = read_kind::timeout;
    } else {
      out.kind = read_anything_ ? read_kind::io : read_kind::stale;
    }
    return out;
  };
  http::response_head head;
  http::parse_result parsed;
  for (;;) {
    parsed = http::parse_response_head(in_.readable(), http::parse_limits{}, false, head);
    if (parsed.status == http::parse_status::complete) {
      break;
    }
    if (parsed.status == http::parse_status::error || !co_await read_more()) {
      if (parsed.status == http::parse_status::error) {
        out.kind = read_kind::io;
        co_return out;
      }
      co_return failed();
    }
  }
  // Copy what is needed: the head is a view into in_, which the body reads may move.
  out.status = head.status;
  const bool keep_alive = head.keep_alive;
  const http::body_framing framing = head.framing;
  const std::uint64_t length = head.content_length;
  std::string version_header;
  for (const auto& h : head.headers) {
    if (http::iequals(h.name, "x-backend-version")) {
      version_header = std::string(h.value);
    } else if (http::iequals(h.name, "set-cookie") && u.kind == cohort_kind::anonymous) {
      u.cookies.store(h.value);
    }
  }
  in_.consume(parsed.consumed);

  std::string body;
  switch (framing) {
    case http::body_framing::none:
      break;
    case http::body_framing::content_length: {
      if (length > max_response_bytes) {
        out.kind = read_kind::io;
        co_return out;
      }
      while (in_.size() < length) {
        if (!co_await read_more()) {
          co_return failed();
        }
      }
      body.assign(in_.readable().substr(0, length));
      in_.consume(length);
      break;
    }
    case http::body_framing::chunked: {
      http::chunked_decoder decoder;
      for (bool done = false; !done;) {
        const auto step = decoder.decode(in_.readable());
        body.append(step.data);
        in_.consume(step.consumed);
        if (step.error || body.size() > max_response_bytes) {
          out.kind = read_kind::io;
          co_return out;
        }
        done = step.done;
        if (!done && step.need_more && !co_await read_more()) {
          co_return failed();
        }
      }
      break;
    }
    case http::body_framing::until_close: {
      while (co_await read_more()) {
        if (in_.size() > max_response_bytes) {
          out.kind = read_kind::io;
          co_return out;
        }
      }
      if (dog_.expired() != net::deadline_kind::none) {
        out.kind = read_kind::timeout;
        co_return out;
      }
      body.assign(in_.readable());
      close();
      break;
    }
  }
  if (!keep_alive || !in_.empty()) {
    close();  // nothing was pipelined, so leftover bytes mean a confused peer
  }
  out.version = response_version(body, version_header);
  out.kind = read_kind::ok;
  co_return out;
}

awaitable<bool> runner::probe() {
  tcp::socket s(ctx_);
  asio::steady_timer timer(ctx_);
  timer.expires_after(opts_.timeout);
  const auto which =
      co_await (s.async_connect(endpoint_, use_nothrow) || timer.async_wait(use_nothrow));
  if (which.index() == 1) {
    result_.unreachable_why =
        "connect to " + opts_.host + ":" + std::to_string(opts_.port) + " timed out";
    co_return false;
  }
  const auto [ec] = std::get<0>(which);
  if (ec) {
    result_.unreachable_why =
        "cannot connect to " + opts_.host + ":" + std::to_string(opts_.port) + ": " + ec.message();
    co_return false;
  }
  co_return true;
}

awaitable<void> runner::report() {
  while (!stopping_) {
    report_timer_.expires_after(opts_.report_every);
    co_await report_timer_.async_wait(use_nothrow);
    if (stopping_) {
      break;
    }
    const std::string line = tally_.progress_line(seconds_between(start_, clock_type::now()));
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

awaitable<void> runner::pace() {
  if (!co_await probe()) {
    co_return;
  }
  result_.reached = true;
  start_ = clock_type::now();
  for (std::uint32_t i = 0; i < opts_.connections; ++i) {
    conns_.push_back(std::make_unique<connection>(*this));
    asio::co_spawn(ctx_, conns_.back()->run(), asio::detached);
  }
  if (opts_.report_every.count() > 0) {
    asio::co_spawn(ctx_, report(), asio::detached);
  }
  asio::steady_timer timer(ctx_);
  pacer_timer_ = &timer;
  signals_.async_wait([this](const error_code& ec, int) {
    if (!ec) {
      interrupted_ = true;
      if (pacer_timer_ != nullptr) {
        pacer_timer_->cancel();
      }
    }
  });
  const std::chrono::duration<double> interval(1.0 / opts_.rate);
  std::uniform_int_distribution<std::uint32_t> pick_user(0, opts_.users - 1);
  std::uniform_int_distribution<std::uint32_t> pick_conn(0, opts_.connections - 1);
  const auto end = opts_.run_for ? start_ + *opts_.run_for : clock_type::time_point::max();
  const auto due_of = [&](std::uint64_t i) {
    return start_ +
           std::chrono::duration_cast<clock_type::duration>(interval * static_cast<double>(i));
  };
  std::uint64_t i = 0;
  for (;; ++i) {
    if (interrupted_ || (opts_.max_requests && i >= *opts_.max_requests)) {
      break;
    }
    const auto due = due_of(i);
    if (due >= end) {
      break;
    }
    if (due > clock_type::now()) {
      timer.expires_at(due);
      co_await timer.async_wait(use_nothrow);
      if (interrupted_) {
        break;
      }
    }
    tally_.sent();
    const std::uint32_t user_index = pick_user(rng_);
    if (!conns_[pick_conn(rng_)]->push(job{user_index, due})) {
      tally_.fail(failure::dropped);
    }
  }
  // The window ends where the next request would have gone out (the end of
  // --duration, or one interval after the last of --requests), or later if the
  // pacer fell behind: sent / window is the rate achieved.
  result_.send_window_s =
      interrupted_ ? seconds_between(start_, clock_type::now())
                   : seconds_between(start_, std::max(clock_type::now(), std::min(due_of(i), end)));
  pacer_timer_ = nullptr;
  error_code ignored;
  signals_.cancel(ignored);
  signals_.clear(ignored);  // a second signal while draining ends the process
  stopping_ = true;
  drain_deadline_ = clock_type::now() + opts_.timeout;
  report_timer_.cancel();
  for (auto& c : conns_) {
    c->close_when_idle();
  }
}

}  // namespace

run_result run_load(const options& opts, std::vector<user>& users, tally& t) {
  runner r(opts, users, t);
  return r.run();
}

}  // namespace cohort::loadgen
