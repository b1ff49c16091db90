#include "server.hpp"

#include <charconv>
#include <csignal>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "bodies.hpp"
#include "counters.hpp"
#include "fnv1a.hpp"
#include "websocket_echo.hpp"

namespace cohort::profile_api {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// Expected failures (peer gone, timeout, malformed bytes) come back as values.
constexpr auto nothrow = net::as_tuple(net::use_awaitable);

constexpr std::size_t header_limit = 64 * 1024;
constexpr std::size_t body_chunk = 64 * 1024;
constexpr std::uint64_t max_stream_chunk = 1 << 20;
constexpr std::uint64_t max_slow_ms = 10 * 60 * 1000;
constexpr auto idle_timeout = 120s;
constexpr auto io_timeout = 60s;

struct shared_state {
  options opts;
  std::unique_ptr<net::ssl::context> tls;  // null: plain HTTP
  std::string api_text;
  counters stats;
};

std::string_view sv(beast::string_view s) {
  return {s.data(), s.size()};
}

// A malformed request from the peer (as opposed to the peer going away).
bool is_bad_request(const beast::error_code& ec) {
  static const auto& http_category = beast::error_code{http::error::bad_target}.category();
  return ec.category() == http_category && ec != http::error::end_of_stream &&
         ec != http::error::partial_message;
}

std::mt19937_64& rng() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

struct query_value {
  bool present = false;
  bool valid = true;
  std::uint64_t value = 0;
};

query_value query_uint(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) != key) {
      continue;
    }
    query_value out;
    out.present = true;
    const auto text = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, out.value);
    out.valid = !text.empty() && ec == std::errc{} && ptr == end;
    return out;
  }
  return {};
}

// One connection; Stream is a beast::tcp_stream, or a TLS stream over one
// (already handshaken).
template <class Stream>
class session {
 public:
  session(Stream stream, std::shared_ptr<shared_state> state)
      : stream_(std::move(stream)), state_(std::move(state)) {}

  net::awaitable<void> run() {
    for (;;) {
      http::request_parser<http::buffer_body> parser;
      parser.header_limit(header_limit);
      parser.body_limit(boost::none);  // bodies are streamed, never held

      tcp().expires_after(idle_timeout);
      auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, nothrow);
      if (ec) {
        if (is_bad_request(ec)) {
          co_await send_bad_request(path_label::other);
        }
        co_return;
      }
      auto& req = parser.get();
      keep_alive_ = req.keep_alive();
      version_ = req.version();

      // The WebSocket echo is served on plain connections only (the tunnel
      // tests need no TLS backend); over TLS /ws is an ordinary path.
      if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
        if (classify_path(path_of(sv(req.target()))) == path_label::ws) {
          // The connection becomes the WebSocket (or gets the handshake's
          // error answer). A client sends nothing before the 101, so nothing
          // read past the head is lost.
          http::request<http::string_body> upgrade{req.base()};
          co_await serve_websocket(std::move(stream_), std::move(upgrade),
                                   state_->opts.version_label, state_->stats);
          co_return;
        }
      }

      if (!parser.is_done() && beast::iequals(req[http::field::expect], "100-continue")) {
        http::response<http::empty_body> cont{http::status::continue_, version_};
        tcp().expires_after(io_timeout);
        auto [wec, wn] = co_await http::async_write(stream_, cont, nothrow);
        if (wec) {
          co_return;
        }
      }

      // Every body is read (so keep-alive stays in sync) and checksummed on
      // the fly; /echo and /upload report the result, others ignore it.
      fnv1a64 sum;
      std::uint64_t body_length = 0;
      while (!parser.is_done()) {
        if (!body_buffer_) {
          body_buffer_ = std::make_unique<char[]>(body_chunk);
        }
        req.body().data = body_buffer_.get();
        req.body().size = body_chunk;
        tcp().expires_after(io_timeout);
        auto [rec, rn] = co_await http::async_read(stream_, buffer_, parser, nothrow);
        if (rec == http::error::need_buffer) {
          rec = {};
        }
        if (rec) {
          if (is_bad_request(rec)) {
            co_await send_bad_request(classify_path(path_of(sv(req.target()))));
          }
          co_return;
        }
        const std::size_t got = body_chunk - req.body().size;
        sum.update(body_buffer_.get(), got);
        body_length += got;
      }

      const bool ok = co_await dispatch(req, sum, body_length);
      if (!ok) {
        co_return;
      }
      if (!keep_alive_) {
        beast::error_code ignored;
        tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
        co_return;
      }
    }
  }

 private:
  using request = http::request<http::buffer_body>;
  using response = http::response<http::string_body>;

  static std::string_view path_of(std::string_view target) {
    return target.substr(0, target.find('?'));
  }
  static std::string_view query_of(std::string_view target) {
    const auto q = target.find('?');
    return q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  }

  // Returns false when the connection must end (write failed).
  net::awaitable<bool> dispatch(const request& req, const fnv1a64& sum, std::uint64_t body_length) {
    const auto target = sv(req.target());
    const auto path = path_of(target);
    const auto label = classify_path(path);
    const auto method = req.method();
    const bool get_or_head = method == http::verb::get || method == http::verb::head;
    const bool head = method == http::verb::head;
    const auto& version_label = state_->opts.version_label;

    switch (label) {
      case path_label::profile: {
        if (!get_or_head) {
          co_return co_await send_not_allowed(label, "GET, HEAD");
        }
        co_await injected_delay();
        if (state_->opts.error_rate > 0.0 &&
            std::uniform_real_distribution<double>(0.0, 1.0)(rng()) < state_->opts.error_rate) {
          co_return co_await send_json(label, http::status::internal_server_error,
                                       error_body("injected failure", version_label), head);
        }
        auto user = sv(req["X-User-Id"]);
        if (user.empty()) {
          user = "anonymous";
        }
        co_return co_await send_json(label, http::status::ok,
                                     profile_body(state_->opts.api, version_label, user), head);
      }
      case path_label::healthz: {
        if (!get_or_head) {
          co_return co_await send_not_allowed(label, "GET, HEAD");
        }
        co_return co_await send_text(label, http::status::ok, "ok\n", "text/plain", head);
      }
      case path_label::metrics: {
        if (!get_or_head) {
          co_return co_await send_not_allowed(label, "GET, HEAD");
        }
        // Count this scrape before rendering so it sees itself, like Prometheus clients do.
        state_->stats.record(label, 200);
        response res{http::status::ok, version_};
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        res.body() = state_->stats.exposition(state_->api_text, version_label);
        co_return co_await send(res, head);
      }
      case path_label::upload:
        if (method != http::verb::post && method != http::verb::put) {
          co_return co_await send_not_allowed(label, "POST, PUT");
        }
        [[fallthrough]];
      case path_label::echo: {
        echo_facts facts;
        facts.method = sv(req.method_string());
        facts.target = target;
        facts.http_version = version_ == 10 ? "1.0" : "1.1";
        for (const auto& field : req) {
          facts.headers.emplace_back(sv(field.name_string()), sv(field.value()));
        }
        facts.body_length = body_length;
        facts.body_fnv1a64 = sum.hex();
        facts.version_label = version_label;
        co_return co_await send_json(label, http::status::ok, echo_body(facts), head);
      }
      case path_label::stream: {
        if (method != http::verb::get) {
          co_return co_await send_not_allowed(label, "GET");
        }
        const auto query = query_of(target);
        const auto bytes = query_uint(query, "bytes");
        const auto chunk = query_uint(query, "chunk");
        if (!bytes.valid || !chunk.valid || (chunk.present && chunk.value == 0) ||
            chunk.value > max_stream_chunk) {
          co_return co_await send_json(
              label, http::status::bad_request,
              error_body("bytes and chunk must be integers, 1 <= chunk <= 1048576", version_label),
              false);
        }
        co_return co_await send_stream(bytes.present ? bytes.value : 1024,
                                       chunk.present ? chunk.value : 16384);
      }
      case path_label::slow: {
        if (!get_or_head) {
          co_return co_await send_not_allowed(label, "GET, HEAD");
        }
        const auto ms = query_uint(query_of(target), "ms");
        if (!ms.valid || ms.value > max_slow_ms) {
          co_return co_await send_json(
              label, http::status::bad_request,
              error_body("ms must be an integer between 0 and 600000", version_label), false);
        }
        net::steady_timer timer{co_await net::this_coro::executor};
        timer.expires_after(std::chrono::milliseconds(ms.value));
        co_await timer.async_wait(nothrow);
        std::string body = "{\"slept_ms\":" + std::to_string(ms.value) + ",\"version\":";
        append_json_string(body, version_label);
        body += '}';
        co_return co_await send_json(label, http::status::ok, std::move(body), head);
      }
      case path_label::ws:  // handled before the body is read
      case path_label::other:
      case path_label::count_:
        break;
    }
    co_return co_await send_json(label, http::status::not_found,
                                 error_body("no such path", version_label), head);
  }

  // latency +- uniform jitter, never below zero (or, for a --tail-share of
  // requests, the tail latency); a timer, so the thread keeps serving.
  net::awaitable<void> injected_delay() {
    const auto& o = state_->opts;
    double ms = o.latency_ms;
    if (o.tail_share > 0.0 &&
        std::uniform_real_distribution<double>(0.0, 1.0)(rng()) < o.tail_share) {
      ms = o.tail_latency_ms;
    } else if (o.latency_jitter_ms > 0.0) {
      ms +=
          std::uniform_real_distribution<double>(-o.latency_jitter_ms, o.latency_jitter_ms)(rng());
    }
    if (ms <= 0.0) {
      co_return;
    }
    net::steady_timer timer{co_await net::this_coro::executor};
    timer.expires_after(std::chrono::microseconds(static_cast<std::int64_t>(ms * 1000.0)));
    co_await timer.async_wait(nothrow);
  }

  void decorate(http::fields& f) const {
    f.set(http::field::server, "profile-api");
    f.set("X-Backend-Version", state_->opts.version_label);
  }

  net::awaitable<bool> send(response& res, bool head) {
    decorate(res.base());
    res.keep_alive(keep_alive_);
    res.prepare_payload();
    tcp().expires_after(io_timeout);
    if (head) {
      http::response_serializer<http::string_body> sr{res};
      auto [ec, n] = co_await http::async_write_header(stream_, sr, nothrow);
      co_return !ec;
    }
    auto [ec, n] = co_await http::async_write(stream_, res, nothrow);
    co_return !ec;
  }

  net::awaitable<bool> send_text(path_label label, http::status status, std::string body,
                                 std::string_view content_type, bool head) {
    state_->stats.record(label, static_cast<unsigned>(status));
    response res{status, version_};
    res.set(http::field::content_type, content_type);
    res.body() = std::move(body);
    co_return co_await send(res, head);
  }

  net::awaitable<bool> send_json(path_label label, http::status status, std::string body,
                                 bool head) {
    return send_text(label, status, std::move(body), "application/json", head);
  }

  net::awaitable<bool> send_not_allowed(path_label label, std::string_view allow) {
    state_->stats.record(label, 405);
    response res{http::status::method_not_allowed, version_};
    res.set(http::field::allow, allow);
    res.set(http::field::content_type, "application/json");
    res.body() = error_body("method not allowed", state_->opts.version_label);
    co_return co_await send(res, false);
  }

  net::awaitable<void> send_bad_request(path_label label) {
    keep_alive_ = false;
    if (version_ == 0) {
      version_ = 11;
    }
    co_await send_json(label, http::status::bad_request,
                       error_body("malformed request", state_->opts.version_label), false);
  }

  // N bytes of the "0123456789" pattern in M-byte chunks, with the checksum
  // as a trailer (HTTP/1.1) so a client can verify what a proxy relayed.
  net::awaitable<bool> send_stream(std::uint64_t total, std::uint64_t chunk) {
    state_->stats.record(path_label::stream, 200);
    const bool chunked = version_ >= 11;
    http::response<http::empty_body> res{http::status::ok, version_};
    decorate(res.base());
    res.set(http::field::content_type, "application/octet-stream");
    res.keep_alive(keep_alive_);
    if (chunked) {
      res.set(http::field::trailer, "X-Checksum");
      res.chunked(true);
    } else {
      res.content_length(total);
    }
    http::response_serializer<http::empty_body> sr{res};
    tcp().expires_after(io_timeout);
    if (auto [ec, n] = co_await http::async_write_header(stream_, sr, nothrow); ec) {
      co_return false;
    }

    // One buffer with ten extra bytes serves every chunk: a chunk starting at
    // offset o begins at index o % 10.
    std::string pattern(static_cast<std::size_t>(chunk) + 10, '\0');
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      pattern[i] = stream_pattern_byte(i);
    }
    fnv1a64 sum;
    std::uint64_t offset = 0;
    while (offset < total) {
      const auto len = static_cast<std::size_t>(std::min(chunk, total - offset));
      const char* data = pattern.data() + offset % 10;
      sum.update(data, len);
      tcp().expires_after(io_timeout);
      const net::const_buffer piece{data, len};
      if (chunked) {
        auto [ec, n] = co_await net::async_write(stream_, http::make_chunk(piece), nothrow);
        if (ec) {
          co_return false;
        }
      } else {
        auto [ec, n] = co_await net::async_write(stream_, piece, nothrow);
        if (ec) {
          co_return false;
        }
      }
      offset += len;
    }
    if (chunked) {
      http::fields trailer;
      trailer.set("X-Checksum", sum.hex());
      tcp().expires_after(io_timeout);
      auto [ec, n] = co_await net::async_write(stream_, http::make_chunk_last(trailer), nothrow);
      if (ec) {
        co_return false;
      }
    }
    co_return true;
  }

  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }

  Stream stream_;
  std::shared_ptr<shared_state> state_;
  beast::flat_buffer buffer_;
  std::unique_ptr<char[]> body_buffer_;  // allocated on the first request with a body
  bool keep_alive_ = true;
  unsigned version_ = 0;
};

net::awaitable<void> serve_connection(tcp::socket socket, std::shared_ptr<shared_state> state) {
  if (!state->tls) {
    session<beast::tcp_stream> s{beast::tcp_stream(std::move(socket)), std::move(state)};
    co_await s.run();
    co_return;
  }
  using tls_stream = beast::ssl_stream<beast::tcp_stream>;
  tls_stream stream(beast::tcp_stream(std::move(socket)), *state->tls);
  beast::get_lowest_layer(stream).expires_after(io_timeout);
  auto [ec] = co_await stream.async_handshake(net::ssl::stream_base::server, nothrow);
  if (ec) {
    // A client without the required certificate ends here (mTLS tests look for it).
    std::fprintf(stderr, "profile-api: TLS handshake failed: %s\n", ec.message().c_str());
    co_return;
  }
  session<tls_stream> s{std::move(stream), std::move(state)};
  co_await s.run();
}

// The server's TLS context, or nullptr after printing why it cannot be made.
std::unique_ptr<net::ssl::context> make_tls_context(const options& opts) {
  auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  beast::error_code ec;
  const auto fail = [&](const char* what, const std::string& file) {
    std::fprintf(stderr, "profile-api: %s '%s': %s\n", what, file.c_str(), ec.message().c_str());
    return nullptr;
  };
  ctx->use_certificate_chain_file(opts.tls_cert, ec);
  if (ec) {
    return fail("cannot use certificate", opts.tls_cert);
  }
  ctx->use_private_key_file(opts.tls_key, net::ssl::context::pem, ec);
  if (ec) {
    return fail("cannot use private key", opts.tls_key);
  }
  if (!opts.tls_client_ca.empty()) {
    ctx->load_verify_file(opts.tls_client_ca, ec);
    if (ec) {
      return fail("cannot use client CA", opts.tls_client_ca);
    }
    ctx->set_verify_mode(net::ssl::verify_peer | net::ssl::verify_fail_if_no_peer_cert);
    // Resumed sessions of verified clients need an id context.
    static constexpr unsigned char id[] = "profile-api";
    SSL_CTX_set_session_id_context(ctx->native_handle(), id, sizeof id - 1);
  }
  return ctx;
}

net::awaitable<void> accept_loop(tcp::acceptor acceptor, std::shared_ptr<shared_state> state,
                                 net::io_context& ioc, bool use_strands) {
  for (;;) {
    const net::any_io_executor ex =
        use_strands ? net::any_io_executor(net::make_strand(ioc)) : ioc.get_executor();
    auto [ec, socket] = co_await acceptor.async_accept(ex, nothrow);
    if (ec == net::error::operation_aborted) {
      co_return;
    }
    if (ec) {
      // Out of descriptors and the like: back off instead of spinning.
      std::fprintf(stderr, "profile-api: accept: %s\n", ec.message().c_str());
      net::steady_timer pause{acceptor.get_executor(), 50ms};
      co_await pause.async_wait(nothrow);
      continue;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto conn_ex = socket.get_executor();
    net::co_spawn(conn_ex, serve_connection(std::move(socket), state), [](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& failure) {
          std::fprintf(stderr, "profile-api: connection failed: %s\n", failure.what());
        }
      }
    });
  }
}

std::optional<tcp::endpoint> resolve(net::io_context& ioc, const options& opts) {
  beast::error_code ec;
  const auto addr = net::ip::make_address(opts.host, ec);
  if (!ec) {
    return tcp::endpoint{addr, opts.port};
  }
  tcp::resolver resolver{ioc};
  const auto results = resolver.resolve(opts.host, std::to_string(opts.port), ec);
  if (ec || results.empty()) {
    std::fprintf(stderr, "profile-api: cannot resolve host '%s': %s\n", opts.host.c_str(),
                 ec ? ec.message().c_str() : "no address");
    return std::nullopt;
  }
  return results.begin()->endpoint();
}

}  // namespace

int run_server(const options& opts) {
  std::signal(SIGPIPE, SIG_IGN);
  auto state = std::make_shared<shared_state>();
  state->opts = opts;
  state->api_text = opts.api == api_version::v1_0 ? "v1.0" : "v1.1";
  if (!opts.tls_cert.empty()) {
    state->tls = make_tls_context(opts);
    if (!state->tls) {
      return 1;
    }
  }

  net::io_context ioc{static_cast<int>(opts.threads)};
  const auto endpoint = resolve(ioc, opts);
  if (!endpoint) {
    return 1;
  }

  tcp::acceptor acceptor{ioc};
  beast::error_code ec;
  acceptor.open(endpoint->protocol(), ec);
  if (!ec) {
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    acceptor.bind(*endpoint, ec);
  }
  if (!ec) {
    acceptor.listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    std::fprintf(stderr, "profile-api: cannot listen on %s:%u: %s\n", opts.host.c_str(),
                 static_cast<unsigned>(opts.port), ec.message().c_str());
    return 1;
  }
  const auto local = acceptor.local_endpoint();
  const auto addr = local.address();
  const std::string host = addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string();
  // Tests and scripts read this line to learn the port; it must leave the buffer now.
  std::printf("listening on %s:%u\n", host.c_str(), static_cast<unsigned>(local.port()));
  std::fflush(stdout);

  net::signal_set signals{ioc, SIGINT, SIGTERM};
  signals.async_wait([&ioc](const beast::error_code&, int) { ioc.stop(); });

  net::co_spawn(ioc, accept_loop(std::move(acceptor), state, ioc, opts.threads > 1), net::detached);

  std::vector<std::thread> workers;
  for (unsigned i = 1; i < opts.threads; ++i) {
    workers.emplace_back([&ioc] { ioc.run(); });
  }
  ioc.run();
  for (auto& t : workers) {
    t.join();
  }
  return 0;
}

}  // namespace cohort::profile_api
