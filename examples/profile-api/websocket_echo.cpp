#include "websocket_echo.hpp"

#include <chrono>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

namespace cohort::profile_api {

namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
constexpr auto nothrow = boost::asio::as_tuple(boost::asio::use_awaitable);
constexpr std::size_t max_message = 1 << 20;

}  // namespace

boost::asio::awaitable<void> serve_websocket(beast::tcp_stream stream,
                                             beast::http::request<beast::http::string_body> req,
                                             std::string version_label, counters& stats) {
  stream.expires_never();  // the websocket stream keeps its own timeouts
  websocket::stream<beast::tcp_stream> ws(std::move(stream));
  // No keep-alive pings: a tunnel test must be able to watch an idle connection.
  ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws.set_option(websocket::stream_base::decorator([&version_label](websocket::response_type& res) {
    res.set(beast::http::field::server, "profile-api");
    res.set("X-Version", version_label);
  }));
  ws.read_message_max(max_message);
  if (auto [ec] = co_await ws.async_accept(req, nothrow); ec) {
    stats.record(path_label::ws, 400);  // Beast answered the failed handshake itself
    co_return;
  }
  stats.record(path_label::ws, 101);
  beast::flat_buffer buffer;
  bool first = true;
  for (;;) {
    auto [rec, n] = co_await ws.async_read(buffer, nothrow);
    if (rec) {
      co_return;  // closed by the client (websocket::error::closed) or broken
    }
    const bool text = ws.got_text();
    if (first && text && beast::buffers_to_string(buffer.data()) == "whoami") {
      const std::string answer = "version " + version_label;
      ws.text(true);
      auto [wec, wn] = co_await ws.async_write(boost::asio::buffer(answer), nothrow);
      if (wec) {
        co_return;
      }
    } else {
      ws.text(text);
      auto [wec, wn] = co_await ws.async_write(buffer.data(), nothrow);
      if (wec) {
        co_return;
      }
    }
    first = false;
    buffer.consume(buffer.size());
  }
}

}  // namespace cohort::profile_api
