// Head rewriting for WebSocket handshakes: the Upgrade field survives only
// when the gateway tunnels, both ways.

#include <gtest/gtest.h>

#include <string>

#include "http/parser.hpp"
#include "proxy/forward_head.hpp"

namespace cohort::proxy {
namespace {

struct parsed_request {
  std::string bytes;
  http::request_head head;
};

// The head views its bytes: keep both together.
std::unique_ptr<parsed_request> parse(std::string bytes) {
  auto p = std::make_unique<parsed_request>();
  p->bytes = std::move(bytes);
  const auto r = http::parse_request_head(p->bytes, {}, p->head);
  EXPECT_EQ(r.status, http::parse_status::complete) << p->bytes;
  return p;
}

const std::string ws_request =
    "GET /ws HTTP/1.1\r\nHost: api\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

TEST(WebsocketUpgrade, RecognisedOnlyForGetWithConnectionUpgradeAndWebsocket) {
  EXPECT_TRUE(is_websocket_upgrade(parse(ws_request)->head));
  EXPECT_TRUE(is_websocket_upgrade(
      parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: foo, WebSocket\r\n\r\n")
          ->head));
  // Another protocol: not ours to tunnel.
  EXPECT_FALSE(is_websocket_upgrade(
      parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
          ->head));
  // Upgrade without Connection: upgrade is no upgrade at all.
  EXPECT_FALSE(
      is_websocket_upgrade(parse("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n")->head));
  EXPECT_FALSE(is_websocket_upgrade(
      parse("POST / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
            "Content-Length: 0\r\n\r\n")
          ->head));
  // HTTP/1.0 has no upgrade.
  EXPECT_FALSE(is_websocket_upgrade(
      parse("GET / HTTP/1.0\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
          ->head));
}

TEST(WebsocketUpgrade, UpstreamRequestKeepsUpgradeOnlyWhenAsked) {
  const auto req = parse(ws_request);
  upstream_request_options opts{"10.0.0.1", "http", "", ""};
  std::string plain;
  append_upstream_request_head(plain, req->head, opts);
  EXPECT_EQ(plain.find("Upgrade"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("Connection"), std::string::npos) << plain;
  EXPECT_NE(plain.find("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), std::string::npos);

  opts.upgrade = true;
  std::string upgraded;
  append_upstream_request_head(upgraded, req->head, opts);
  EXPECT_TRUE(upgraded.starts_with("GET /ws HTTP/1.1\r\n")) << upgraded;
  EXPECT_NE(upgraded.find("\r\nUpgrade: websocket\r\n"), std::string::npos) << upgraded;
  EXPECT_NE(upgraded.find("\r\nConnection: upgrade\r\n"), std::string::npos) << upgraded;
  EXPECT_NE(upgraded.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos);
  EXPECT_NE(upgraded.find("X-Forwarded-For: 10.0.0.1\r\n"), std::string::npos);
  // The client's own Connection field (with keep-alive) is not passed on.
  EXPECT_EQ(upgraded.find("keep-alive"), std::string::npos) << upgraded;
  EXPECT_TRUE(upgraded.ends_with("\r\n\r\n"));
}

TEST(WebsocketUpgrade, SwitchingProtocolsHeadKeepsUpgradeAndAddsTheDecision) {
  const std::string bytes =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Version: v1.1\r\n\r\n";
  http::response_head head;
  ASSERT_EQ(http::parse_response_head(bytes, {}, false, head).status, http::parse_status::complete);
  ASSERT_EQ(head.status, 101u);
  downstream_response_options opts;
  opts.upgrade = true;
  opts.decision_header = "x-cohort-decision";
  opts.decision_value = "bucket:17<500";
  std::string out;
  append_downstream_response_head(out, head, opts);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 101 Switching Protocols\r\n")) << out;
  EXPECT_NE(out.find("\r\nUpgrade: websocket\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nConnection: upgrade\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos);
  EXPECT_NE(out.find("x-cohort-decision: bucket:17<500\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;
  EXPECT_EQ(out.find("Transfer-Encoding"), std::string::npos) << out;

  // Without the option (a plain relay) the hop-by-hop fields go.
  std::string plain;
  append_downstream_response_head(plain, head, {});
  EXPECT_EQ(plain.find("Upgrade:"), std::string::npos) << plain;
}

}  // namespace
}  // namespace cohort::proxy
