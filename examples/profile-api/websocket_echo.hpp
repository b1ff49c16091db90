#pragma once
// The demo backend's WebSocket endpoint (/ws): an echo that tells, on request,
// which version of the backend a client reached. Tests of the gateway's
// tunnels use it to see where a user's WebSocket landed.

#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "counters.hpp"

namespace cohort::profile_api {

// Accepts the upgrade in req (already read from stream; the 101 carries
// X-Version: version_label), then echoes every text and binary message as it
// came. The first message "whoami" is answered with "version <label>"
// instead. Returns when the client closes or the connection fails. The
// handshake is counted in stats as /ws 101 (or 400 when refused).
boost::asio::awaitable<void> serve_websocket(
    boost::beast::tcp_stream stream,
    boost::beast::http::request<boost::beast::http::string_body> req, std::string version_label,
    counters& stats);

}  // namespace cohort::profile_api
