// Head rewriting: for WebSocket handshakes the Upgrade field survives only
// when the gateway tunnels, both ways; the fields the gateway adds follow
// gateway.proxy_headers.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

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

const std::string forwarded_request =
    "GET /a HTTP/1.1\r\nHost: api\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: gopher\r\n"
    "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n";
constexpr std::string_view own_traceparent =
    "00-11111111111111112222222222222222-3333333333333333-01";

std::vector<std::string> h2_fields(const http::request_head& req,
                                   const upstream_request_options& opts) {
  std::string storage;
  std::vector<http::header> fields;
  upstream_h2_request_fields(req, opts, "http", storage, fields);
  std::vector<std::string> out;
  for (const auto& f : fields) {
    out.push_back(std::string(f.name) + ": " + std::string(f.value));
  }
  return out;
}

bool has(const std::vector<std::string>& fields, const std::string& field) {
  return std::find(fields.begin(), fields.end(), field) != fields.end();
}

TEST(ProxyHeaders, AddedByDefault) {
  const auto req = parse(forwarded_request);
  const upstream_request_options opts{"10.0.0.1", "https", "", own_traceparent};
  std::string out;
  append_upstream_request_head(out, req->head, opts);
  EXPECT_NE(out.find("\r\nX-Forwarded-For: 203.0.113.7, 10.0.0.1\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nX-Forwarded-Proto: https\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("gopher"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nVia: 1.1 cohort\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\ntraceparent: " + std::string(own_traceparent) + "\r\n"),
            std::string::npos);
  EXPECT_EQ(out.find("0af7651916cd43dd8448eb211c80319c"), std::string::npos) << out;

  const auto fields = h2_fields(req->head, opts);
  EXPECT_TRUE(has(fields, "x-forwarded-for: 203.0.113.7, 10.0.0.1"));
  EXPECT_TRUE(has(fields, "x-forwarded-proto: https"));
  EXPECT_TRUE(has(fields, "via: 1.1 cohort"));
  EXPECT_TRUE(has(fields, "traceparent: " + std::string(own_traceparent)));
}

TEST(ProxyHeaders, OffPassesTheClientsFieldsUnchanged) {
  const auto req = parse(forwarded_request);
  upstream_request_options opts{"10.0.0.1", "https", "", ""};  // traceparent: false
  opts.x_forwarded = false;
  opts.via = false;
  std::string out;
  append_upstream_request_head(out, req->head, opts);
  EXPECT_EQ(out,
            "GET /a HTTP/1.1\r\nHost: api\r\nX-Forwarded-For: 203.0.113.7\r\n"
            "X-Forwarded-Proto: gopher\r\n"
            "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n");

  // HTTP/2 names are lower case; the values are the client's, once each.
  const auto fields = h2_fields(req->head, opts);
  EXPECT_TRUE(has(fields, "x-forwarded-for: 203.0.113.7"));
  EXPECT_TRUE(has(fields, "x-forwarded-proto: gopher"));
  EXPECT_TRUE(has(fields, "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
  EXPECT_EQ(fields.size(), 7u);  // 4 pseudo-fields and the client's 3
  for (const auto& f : fields) {
    EXPECT_FALSE(f.starts_with("via:")) << f;
  }
}

TEST(ProxyHeaders, EachSwitchAlone) {
  const auto req = parse("GET / HTTP/1.1\r\nHost: api\r\n\r\n");
  upstream_request_options opts{"10.0.0.1", "http", "", own_traceparent};
  opts.via = false;
  std::string no_via;
  append_upstream_request_head(no_via, req->head, opts);
  EXPECT_EQ(no_via.find("Via:"), std::string::npos) << no_via;
  EXPECT_NE(no_via.find("X-Forwarded-For: 10.0.0.1\r\n"), std::string::npos) << no_via;

  opts.via = true;
  opts.x_forwarded = false;
  std::string no_forwarded;
  append_upstream_request_head(no_forwarded, req->head, opts);
  EXPECT_EQ(no_forwarded.find("X-Forwarded"), std::string::npos) << no_forwarded;
  EXPECT_NE(no_forwarded.find("Via: 1.1 cohort\r\n"), std::string::npos) << no_forwarded;
  EXPECT_NE(no_forwarded.find("traceparent: "), std::string::npos) << no_forwarded;
}

TEST(ProxyHeaders, ResponseViaFollowsTheSwitch) {
  const std::string bytes = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
  http::response_head head;
  ASSERT_EQ(http::parse_response_head(bytes, {}, false, head).status, http::parse_status::complete);
  downstream_response_options opts;
  opts.body = downstream_body::content_length;
  opts.content_length = 2;
  std::string with_via;
  append_downstream_response_head(with_via, head, opts);
  EXPECT_NE(with_via.find("\r\nVia: 1.1 cohort\r\n"), std::string::npos) << with_via;
  opts.via = false;
  std::string without;
  append_downstream_response_head(without, head, opts);
  EXPECT_EQ(without, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
}

// A Connection field that names only hop-by-hop fields (keep-alive, upgrade)
// skips the per-field check; one that names anything else still drops it.
TEST(ConnectionNominated, OnlyNamesOutsideTheHopByHopSetAreLookedFor) {
  const auto keep_alive = parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_FALSE(nominates_end_to_end_field(keep_alive->head.headers));
  const auto upgrade =
      parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive , UPGRADE\r\n\r\n");
  EXPECT_FALSE(nominates_end_to_end_field(upgrade->head.headers));
  const auto none = parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_FALSE(nominates_end_to_end_field(none->head.headers));
  const auto other =
      parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: X-Secret\r\n\r\n");
  EXPECT_TRUE(nominates_end_to_end_field(other->head.headers));
}

TEST(ConnectionNominated, NamedFieldsAreDroppedBothWays) {
  const auto req = parse(
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, x-secret\r\nX-Secret: 1\r\n"
      "Keep-Alive: timeout=5\r\nX-Kept: 2\r\n\r\n");
  std::string up;
  append_upstream_request_head(up, req->head, upstream_request_options{"10.0.0.1", "http", "", ""});
  EXPECT_EQ(up.find("X-Secret"), std::string::npos) << up;
  EXPECT_EQ(up.find("Keep-Alive"), std::string::npos) << up;
  EXPECT_NE(up.find("\r\nX-Kept: 2\r\n"), std::string::npos) << up;

  const std::string bytes =
      "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Kept: 3\r\n"
      "Content-Length: 0\r\n\r\n";
  http::response_head head;
  ASSERT_EQ(http::parse_response_head(bytes, {}, false, head).status, http::parse_status::complete);
  downstream_response_options opts;
  opts.body = downstream_body::content_length;
  std::string down;
  append_downstream_response_head(down, head, opts);
  EXPECT_EQ(down.find("Keep-Alive"), std::string::npos) << down;
  EXPECT_NE(down.find("\r\nX-Kept: 3\r\n"), std::string::npos) << down;
}

}  // namespace
}  // namespace cohort::proxy
