// The HTTP/2 upstream connection against real peers: nghttpd (Debian
// nghttp2-server) serving files over h2c, and a scripted peer that writes
// raw frames for GOAWAY.

#include <gtest/gtest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "upstream/h2_connection.hpp"

extern char** environ;

namespace cohort::upstream {
namespace {

namespace asio = net::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::uint16_t free_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  return a.local_endpoint().port();
}

bool can_connect(std::uint16_t port) {
  asio::io_context io;
  tcp::socket s(io);
  error_code ec;
  s.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port), ec);
  return !ec;
}

// nghttpd --no-tls on a free port, serving a temporary directory.
class nghttpd {
 public:
  explicit nghttpd(std::vector<std::string> extra = {}) {
    dir_ = fs::temp_directory_path() /
           ("cohort-h2-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(dir_);
    port_ = free_port();
    std::vector<std::string> args{"nghttpd", "--no-tls", "-d", dir_.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(std::to_string(port_));
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    if (posix_spawnp(&pid_, "nghttpd", nullptr, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
      return;
    }
    for (int i = 0; i < 100 && !can_connect(port_); ++i) {
      std::this_thread::sleep_for(20ms);
    }
  }
  ~nghttpd() {
    stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  bool running() const { return pid_ > 0 && can_connect(port_); }
  std::uint16_t port() const { return port_; }
  void put(const std::string& name, const std::string& body) {
    std::ofstream(dir_ / name, std::ios::binary) << body;
  }

 private:
  static inline int counter_ = 0;
  fs::path dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

endpoint_state local_endpoint(std::uint16_t port) {
  endpoint_state ep;
  ep.key = "127.0.0.1:" + std::to_string(port);
  ep.address = tcp::endpoint(asio::ip::address_v4::loopback(), port);
  ep.resolved = true;
  return ep;
}

struct response {
  h2_failure failure = h2_failure::none;
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string trailers;
  bool complete = false;
  std::size_t largest_piece = 0;
  const h2_connection* conn = nullptr;

  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n == name) {
        return v;
      }
    }
    return {};
  }
};

std::vector<header_field> request_fields(std::string_view method, std::string_view path,
                                         std::string_view authority) {
  return {{":method", method}, {":scheme", "http"}, {":authority", authority}, {":path", path}};
}

// One exchange: acquire, submit, send the body, read everything.
net::awaitable<response> exchange(pool& p, endpoint_state& ep, h2_settings settings,
                                  std::string method, std::string path, std::string body = {},
                                  std::string trailer_lines = {},
                                  std::function<net::awaitable<void>()> between_pieces = {}) {
  response r;
  auto got = co_await acquire_h2(p, ep, 1s, nullptr, settings);
  if (!got.stream) {
    r.failure = h2_failure::refused;
    co_return r;
  }
  auto& st = *got.stream;
  r.conn = &st.connection();
  const std::string authority = ep.key;
  auto fields = request_fields(method, path, authority);
  if (!st.submit(fields, !body.empty())) {
    r.failure = st.failure();
    co_return r;
  }
  if (!body.empty()) {
    // Two pieces, the second one last: the data provider is deferred in between.
    const std::size_t half = body.size() / 2;
    if (!co_await st.send_body(std::string_view(body).substr(0, half), false, {}) ||
        !co_await st.send_body(std::string_view(body).substr(half), true, trailer_lines)) {
      r.failure = st.failure();
      co_return r;
    }
  }
  r.failure = co_await st.wait_head();
  if (r.failure != h2_failure::none) {
    co_return r;
  }
  r.status = st.status();
  for (const auto& h : st.headers()) {
    r.headers.emplace_back(h.name, h.value);
  }
  for (;;) {
    const auto piece = co_await st.read_body();
    if (piece.failed) {
      r.failure = st.failure();
      break;
    }
    r.body.append(piece.data);
    r.largest_piece = std::max(r.largest_piece, piece.data.size());
    if (piece.done) {
      r.complete = true;
      break;
    }
    if (between_pieces) {
      co_await between_pieces();
    }
  }
  r.trailers = st.trailers();
  co_return r;
}

template <class T>
T run(asio::io_context& io, net::awaitable<T> task) {
  std::optional<T> out;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T v) {
    if (e) {
      std::rethrow_exception(e);
    }
    out = std::move(v);
    io.stop();  // connections stay open (and keep io busy) after the exchange
  });
  io.run_for(10s);
  io.restart();
  EXPECT_TRUE(out.has_value()) << "the exchange did not finish in time";
  return out.value_or(T{});
}

class H2Connection : public ::testing::Test {
 protected:
  // Declared before io: connections still open when io goes (and destroys
  // their coroutines) tell the breaker they closed.
  circuit_breaker breaker;
  asio::io_context io;
  pool p{io};
};

TEST_F(H2Connection, GetsAFileWithItsHead) {
  nghttpd server;
  ASSERT_TRUE(server.running()) << "nghttpd (Debian nghttp2-server) did not start";
  server.put("hello.txt", "hello world");
  auto ep = local_endpoint(server.port());
  const auto r = run(io, exchange(p, ep, {}, "GET", "/hello.txt"));
  EXPECT_EQ(r.failure, h2_failure::none);
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("content-length"), "11");
  EXPECT_EQ(r.body, "hello world");
  EXPECT_TRUE(r.complete);

  const auto missing = run(io, exchange(p, ep, {}, "GET", "/nope"));
  EXPECT_EQ(missing.status, 404u);
  EXPECT_TRUE(missing.complete);
  EXPECT_EQ(missing.conn, r.conn) << "the second request reuses the connection";
  EXPECT_EQ(ep.h2.size(), 1u);
}

TEST_F(H2Connection, ConcurrentStreamsShareOneConnection) {
  nghttpd server;
  ASSERT_TRUE(server.running());
  std::string big(100000, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>('a' + i % 26);
  }
  server.put("big", big);
  auto ep = local_endpoint(server.port());
  constexpr int n = 60;
  std::vector<response> results(n);
  int done = 0;
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(io, exchange(p, ep, {}, "GET", "/big"),
                   [&, i](std::exception_ptr e, response r) {
                     ASSERT_FALSE(e);
                     results[i] = std::move(r);
                     if (++done == n) {
                       io.stop();
                     }
                   });
  }
  io.run_for(15s);
  io.restart();
  ASSERT_EQ(done, n);
  std::set<const h2_connection*> conns;
  for (const auto& r : results) {
    EXPECT_EQ(r.status, 200u);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.body, big);
    conns.insert(r.conn);
  }
  EXPECT_EQ(conns.size(), 1u);
}

TEST_F(H2Connection, PeerStreamLimitOpensMoreConnections) {
  nghttpd server({"-m", "10"});
  ASSERT_TRUE(server.running());
  server.put("a", "A");
  auto ep = local_endpoint(server.port());
  // A first exchange learns the peer's SETTINGS_MAX_CONCURRENT_STREAMS.
  const auto first = run(io, exchange(p, ep, {}, "GET", "/a"));
  ASSERT_EQ(first.status, 200u);
  ASSERT_EQ(ep.h2.size(), 1u);
  EXPECT_EQ(ep.h2.front()->stream_limit(), 10u);

  constexpr int n = 35;
  std::vector<response> results(n);
  int done = 0;
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(io, exchange(p, ep, {}, "GET", "/a"), [&, i](std::exception_ptr, response r) {
      results[i] = std::move(r);
      if (++done == n) {
        io.stop();
      }
    });
  }
  io.run_for(10s);
  io.restart();
  ASSERT_EQ(done, n);
  std::set<const h2_connection*> conns;
  for (const auto& r : results) {
    EXPECT_EQ(r.body, "A");
    conns.insert(r.conn);
  }
  EXPECT_EQ(conns.size(), 4u) << "35 streams at 10 per connection";
}

TEST_F(H2Connection, ReadsAtTheReadersPaceWithinTheWindow) {
  nghttpd server({"-b", "7"});  // padded DATA frames: padding must not leak the window
  ASSERT_TRUE(server.running());
  std::string big(3 * 1024 * 1024, 'z');
  server.put("big", big);
  auto ep = local_endpoint(server.port());
  h2_settings s;
  s.stream_window = 65535;
  asio::steady_timer pause(io);
  auto slow = [&]() -> net::awaitable<void> {
    pause.expires_after(1ms);
    co_await pause.async_wait(net::use_nothrow);
  };
  const auto r = run(io, exchange(p, ep, s, "GET", "/big", {}, {}, slow));
  EXPECT_EQ(r.status, 200u);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.body.size(), big.size());
  // Never more buffered than the stream window: the peer waited for WINDOW_UPDATEs.
  EXPECT_LE(r.largest_piece, 65535u);
  EXPECT_GT(r.largest_piece, 0u);
}

TEST_F(H2Connection, UploadsABodyEndedByTrailers) {
  nghttpd server({"--echo-upload"});
  ASSERT_TRUE(server.running());
  auto ep = local_endpoint(server.port());
  std::string body(200000, 'q');
  body[0] = 'Q';
  const auto r = run(io, exchange(p, ep, {}, "POST", "/echo", body, "x-check: 42\r\n"));
  EXPECT_EQ(r.failure, h2_failure::none);
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, body);
}

TEST_F(H2Connection, ResponseTrailersAsFieldLines) {
  nghttpd server({"--trailer", "grpc-status: 0", "--trailer", "grpc-message: fine"});
  ASSERT_TRUE(server.running());
  server.put("t", "body");
  auto ep = local_endpoint(server.port());
  const auto r = run(io, exchange(p, ep, {}, "GET", "/t"));
  EXPECT_EQ(r.body, "body");
  EXPECT_EQ(r.trailers, "grpc-status: 0\r\ngrpc-message: fine\r\n");
}

TEST_F(H2Connection, ADeadConnectionFailsItsStreams) {
  nghttpd server;
  ASSERT_TRUE(server.running());
  server.put("a", "A");
  auto ep = local_endpoint(server.port());
  ASSERT_EQ(run(io, exchange(p, ep, {}, "GET", "/a")).status, 200u);
  server.stop();
  // The reader sees the close; the connection leaves the endpoint.
  io.run_for(200ms);
  io.restart();
  EXPECT_TRUE(ep.h2.empty());
  const auto r = run(io, exchange(p, ep, {}, "GET", "/a"));
  EXPECT_EQ(r.failure, h2_failure::refused) << "connect refused: nothing was sent";
}

TEST_F(H2Connection, IdleConnectionsClose) {
  nghttpd server;
  ASSERT_TRUE(server.running());
  server.put("a", "A");
  auto ep = local_endpoint(server.port());
  h2_settings s;
  s.idle_timeout = 100ms;
  ASSERT_EQ(run(io, exchange(p, ep, s, "GET", "/a")).status, 200u);
  ASSERT_EQ(ep.h2.size(), 1u);
  std::weak_ptr<h2_connection> weak = ep.h2.front();
  io.run_for(400ms);
  io.restart();
  EXPECT_TRUE(ep.h2.empty());
  EXPECT_TRUE(weak.expired()) << "closed and released";
}

// A peer that answers stream 1 and then sends GOAWAY(last_stream_id = 1):
// streams 3 and 5 were never processed, so they fail as refused (retryable).
TEST_F(H2Connection, GoawayRefusesStreamsAboveTheLastId) {
  asio::io_context peer_io;
  tcp::acceptor acceptor(peer_io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  const auto port = acceptor.local_endpoint().port();
  std::thread peer([&] {
    tcp::socket s(peer_io);
    acceptor.accept(s);
    std::string seen;
    char buf[4096];
    // Wait for the three HEADERS frames (type 1) after the preface.
    while (true) {
      error_code ec;
      const auto n = s.read_some(asio::buffer(buf), ec);
      if (ec) {
        return;
      }
      seen.append(buf, n);
      int headers = 0;
      std::size_t pos = 24;  // client magic
      while (pos + 9 <= seen.size()) {
        const std::size_t len = (std::size_t(std::uint8_t(seen[pos])) << 16) |
                                (std::size_t(std::uint8_t(seen[pos + 1])) << 8) |
                                std::uint8_t(seen[pos + 2]);
        headers += seen[pos + 3] == 1 ? 1 : 0;
        pos += 9 + len;
      }
      if (headers >= 3) {
        break;
      }
    }
    const unsigned char frames[] = {
        // SETTINGS (empty)
        0, 0, 0, 4, 0, 0, 0, 0, 0,
        // HEADERS stream 1, END_STREAM | END_HEADERS, ":status: 200" (static index 8)
        0, 0, 1, 1, 5, 0, 0, 0, 1, 0x88,
        // GOAWAY last_stream_id 1, NO_ERROR
        0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    asio::write(s, asio::buffer(frames, sizeof frames));
    error_code ec;
    while (!ec) {
      s.read_some(asio::buffer(buf), ec);  // until the client closes
    }
  });
  auto ep = local_endpoint(port);
  std::vector<response> results(3);
  int done = 0;
  for (int i = 0; i < 3; ++i) {
    asio::co_spawn(io, exchange(p, ep, {}, "GET", "/x"), [&, i](std::exception_ptr, response r) {
      results[i] = std::move(r);
      ++done;
    });
  }
  io.run_for(5s);
  io.restart();
  ASSERT_EQ(done, 3);
  int ok = 0;
  int refused = 0;
  for (const auto& r : results) {
    ok += r.failure == h2_failure::none && r.status == 200 && r.complete ? 1 : 0;
    refused += r.failure == h2_failure::refused ? 1 : 0;
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(refused, 2);
  EXPECT_TRUE(ep.h2.empty()) << "a connection that got GOAWAY takes no new streams";
  // Release the last stream: the connection closes and the peer sees EOF.
  results.clear();
  io.run_for(300ms);
  peer.join();
}

TEST_F(H2Connection, CancelWakesAWaitingStream) {
  nghttpd server;
  ASSERT_TRUE(server.running());
  auto ep = local_endpoint(server.port());
  h2_failure got = h2_failure::none;
  std::unique_ptr<h2_stream> held;
  asio::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        auto a = co_await acquire_h2(p, ep, 1s, nullptr, {});
        held = std::move(a.stream);
        const std::string authority = ep.key;
        auto fields = request_fields("POST", "/slow", authority);
        held->submit(fields, true);  // the body never comes: no response either
        got = co_await held->wait_head();
        io.stop();
      },
      asio::detached);
  asio::steady_timer t(io, 100ms);
  t.async_wait([&](error_code) { held->cancel(); });
  io.run_for(2s);
  EXPECT_EQ(got, h2_failure::cancelled);
}

TEST_F(H2Connection, BreakerBoundsConnections) {
  nghttpd server({"-m", "1"});
  ASSERT_TRUE(server.running());
  server.put("a", "A");
  auto ep = local_endpoint(server.port());
  breaker.set_limits({1, unlimited, unlimited});
  ASSERT_EQ(run(io, exchange(p, ep, {}, "GET", "/a")).status, 200u);  // learns the limit of 1
  // ep's only connection (counted by no breaker) is full while `held` lives.
  h2_acquire_result first;
  h2_acquire_result second;
  h2_acquire_result third;
  asio::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        first = co_await acquire_h2(p, ep, 1s, &breaker, {});
        second = co_await acquire_h2(p, ep, 1s, &breaker, {});
        third = co_await acquire_h2(p, ep, 1s, &breaker, {});
        io.stop();
      },
      asio::detached);
  io.run_for(1s);
  io.restart();
  ASSERT_TRUE(first.stream);
  ASSERT_TRUE(second.stream);
  EXPECT_NE(&first.stream->connection(), &second.stream->connection());
  EXPECT_FALSE(third.stream);
  EXPECT_EQ(third.overflow, breaker_kind::max_connections);
  EXPECT_EQ(breaker.connections(), 1u);
}

}  // namespace
}  // namespace cohort::upstream
