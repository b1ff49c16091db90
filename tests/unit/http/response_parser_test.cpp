#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "http/parser.hpp"

namespace cohort::http {
namespace {

using namespace std::string_literals;

struct parsed {
  parse_result result;
  response_head head;
};

parsed parse(std::string_view data, bool head_request = false, parse_limits limits = {}) {
  parsed p;
  p.result = parse_response_head(data, limits, head_request, p.head);
  return p;
}

TEST(ResponseParser, ParsesStatusLineAndFields) {
  const std::string data = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nServer: x\r\n\r\nhello world!";
  const parsed p = parse(data);
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.result.consumed, data.find("hello"));
  EXPECT_EQ(p.head.ver, version::http11);
  EXPECT_EQ(p.head.status, 200u);
  EXPECT_EQ(p.head.reason, "OK");
  EXPECT_EQ(p.head.framing, body_framing::content_length);
  EXPECT_EQ(p.head.content_length, 12u);
  EXPECT_TRUE(p.head.keep_alive);
  ASSERT_NE(p.head.find("SERVER"), nullptr);
}

TEST(ResponseParser, ReasonMayBeEmptyOrMissing) {
  parsed p = parse("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.head.status, 404u);
  EXPECT_EQ(p.head.reason, "");
  p = parse("HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.head.status, 503u);
  p = parse("HTTP/1.0 200 Fine \t Thanks\r\n\r\n");
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.head.reason, "Fine \t Thanks");
}

TEST(ResponseParser, IncompleteByteByByte) {
  const std::string data = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n";
  for (std::size_t n = 0; n < data.size(); ++n) {
    EXPECT_EQ(parse(data.substr(0, n)).result.status, parse_status::incomplete) << n;
  }
  const parsed p = parse(data);
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.head.framing, body_framing::chunked);
}

TEST(ResponseParser, NoBodyForHeadAnd1xx204And304) {
  parsed p = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true);
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.head.framing, body_framing::none);
  EXPECT_EQ(p.head.content_length, 10u);  // the length of what GET would have sent
  EXPECT_TRUE(p.head.keep_alive);
  for (const char* line : {"HTTP/1.1 100 Continue\r\n", "HTTP/1.1 101 Switching Protocols\r\n",
                           "HTTP/1.1 204 No Content\r\n", "HTTP/1.1 304 Not Modified\r\n"}) {
    p = parse(std::string(line) + "\r\n");
    ASSERT_EQ(p.result.status, parse_status::complete) << line;
    EXPECT_EQ(p.head.framing, body_framing::none) << line;
    EXPECT_TRUE(p.head.keep_alive) << line;
  }
  p = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true);
  EXPECT_EQ(p.head.framing, body_framing::none);
}

TEST(ResponseParser, Framing) {
  parsed p = parse("HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_EQ(p.head.framing, body_framing::until_close);
  EXPECT_FALSE(p.head.keep_alive);  // the close is the end of the body
  p = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  EXPECT_EQ(p.head.framing, body_framing::chunked);
  p = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: Chunked\r\n\r\n");
  EXPECT_EQ(p.head.framing, body_framing::chunked);
  p = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
  EXPECT_EQ(p.head.framing, body_framing::until_close);
  p = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
  EXPECT_EQ(p.head.framing, body_framing::until_close);
  EXPECT_FALSE(p.head.keep_alive);
}

TEST(ResponseParser, KeepAlive) {
  EXPECT_FALSE(
      parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").head.keep_alive);
  EXPECT_FALSE(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").head.keep_alive);
  EXPECT_TRUE(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n")
                  .head.keep_alive);
}

parse_error error_of(std::string_view data) {
  const parsed p = parse(data);
  EXPECT_EQ(p.result.status, parse_status::error) << data;
  return p.result.error;
}

TEST(ResponseParser, Rejections) {
  for (const char* line :
       {"HTTP/1.1 20 OK\r\n", "HTTP/1.1 2000 OK\r\n", "HTTP/1.1 abc OK\r\n", "HTTP/1.1  200 OK\r\n",
        "HTTP/1.1 200 OK\n", "HTTP/1.1 200 O\rK\r\n", "HTTP/1.1 099 Low\r\n",
        "HTTP/1.1 600 High\r\n", "HTTX/1.1 200 OK\r\n", "HTTP/1.1 200 \x01\r\n"}) {
    EXPECT_EQ(error_of(std::string(line) + "\r\n"), parse_error::bad_status_line) << line;
  }
  EXPECT_EQ(error_of("HTTP/2.0 200 OK\r\n\r\n"), parse_error::unsupported_version);
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            parse_error::length_and_chunked);
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n"),
            parse_error::bad_content_length);
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
            parse_error::bad_transfer_encoding);
  EXPECT_EQ(error_of("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            parse_error::bad_transfer_encoding);
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX : y\r\n\r\n"), parse_error::bad_header);
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n"), parse_error::bad_header);
  EXPECT_EQ(status_for(parse_error::bad_status_line), 502u);
}

TEST(ResponseParser, LimitsApply) {
  parse_limits limits;
  limits.max_headers = 1;
  parsed p = parse("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", false, limits);
  EXPECT_EQ(p.result.error, parse_error::too_many_headers);
  limits = {};
  limits.max_head_bytes = 20;
  p = parse("HTTP/1.1 200 OK\r\nA: 1234567890\r\n", false, limits);
  EXPECT_EQ(p.result.error, parse_error::head_too_large);
}

}  // namespace
}  // namespace cohort::http
