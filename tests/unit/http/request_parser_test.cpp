#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "http/parser.hpp"

namespace cohort::http {
namespace {

using namespace std::string_literals;

struct parsed {
  parse_result result;
  request_head head;
};

parsed parse(std::string_view data, parse_limits limits = {}) {
  parsed p;
  p.result = parse_request_head(data, limits, p.head);
  return p;
}

parse_error error_of(std::string_view data, parse_limits limits = {}) {
  const parsed p = parse(data, limits);
  EXPECT_EQ(p.result.status, parse_status::error) << data;
  return p.result.error;
}

// ---- good requests ----

TEST(RequestParser, ParsesSimpleGet) {
  const std::string data =
      "GET /users/42?active=1&x=y HTTP/1.1\r\n"
      "Host: api.example.com\r\n"
      "X-User-Id:   u-17 \t\r\n"
      "Accept:\r\n"
      "\r\n";
  const parsed p = parse(data);
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.result.consumed, data.size());
  EXPECT_EQ(p.head.method, "GET");
  EXPECT_EQ(p.head.target, "/users/42?active=1&x=y");
  EXPECT_EQ(p.head.path, "/users/42");
  EXPECT_EQ(p.head.query, "active=1&x=y");
  EXPECT_EQ(p.head.ver, version::http11);
  ASSERT_EQ(p.head.headers.size(), 3u);
  EXPECT_EQ(p.head.headers[1].name, "X-User-Id");
  EXPECT_EQ(p.head.headers[1].value, "u-17");
  EXPECT_EQ(p.head.headers[2].value, "");
  EXPECT_EQ(p.head.host, "api.example.com");
  EXPECT_EQ(p.head.framing, body_framing::none);
  EXPECT_TRUE(p.head.keep_alive);
  EXPECT_FALSE(p.head.expect_continue);
  EXPECT_FALSE(p.head.upgrade);
}

TEST(RequestParser, ValuesAreViewsIntoInput) {
  const std::string data = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  const parsed p = parse(data);
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.head.host.data(), data.data() + data.find("h\r\n\r\n"));
}

TEST(RequestParser, LongValuesWithHighBytesAndTabs) {
  // Long enough for the word-at-a-time scan; obs-text and HTAB are allowed in values.
  const std::string value = "abc\tdef \xC3\xA9\xFF" + std::string(100, 'z') + "\t!~";
  const std::string data = "GET / HTTP/1.1\r\nHost: h\r\nX: " + value + "\r\n\r\n";
  const parsed p = parse(data);
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.head.find("x")->value, value);
}

TEST(RequestParser, PipelinedConsumedLandsOnNextRequest) {
  const std::string first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  const std::string data = first + second;
  const parsed p1 = parse(data);
  ASSERT_EQ(p1.result.status, parse_status::complete);
  EXPECT_EQ(p1.result.consumed, first.size());
  EXPECT_EQ(p1.head.path, "/a");
  const parsed p2 = parse(std::string_view(data).substr(p1.result.consumed));
  ASSERT_EQ(p2.result.status, parse_status::complete);
  EXPECT_EQ(p2.head.method, "POST");
  EXPECT_EQ(p2.head.framing, body_framing::content_length);
  EXPECT_EQ(p2.head.content_length, 3u);
  EXPECT_EQ(data.substr(p1.result.consumed + p2.result.consumed), "abc");
}

TEST(RequestParser, IgnoresLeadingEmptyLines) {
  const std::string data = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
  const parsed p = parse(data);
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.result.consumed, data.size());
  EXPECT_EQ(p.head.method, "GET");
}

// Every prefix of a good head is incomplete, and the whole gives the same head.
void expect_incremental(const std::string& data) {
  const parsed whole = parse(data);
  ASSERT_EQ(whole.result.status, parse_status::complete);
  for (std::size_t n = 0; n < data.size(); ++n) {
    const parsed part = parse(std::string_view(data).substr(0, n));
    ASSERT_EQ(part.result.status, parse_status::incomplete) << "prefix " << n;
    EXPECT_EQ(part.result.consumed, 0u);
  }
}

TEST(RequestParser, IncompleteByteByByteThenSameAsWhole) {
  const std::string data =
      "\r\nPOST http://api.example.com:8080/v1/x?y=2 HTTP/1.1\r\n"
      "Host: other\r\n"
      "Transfer-Encoding: chunked\r\n"
      "Connection: keep-alive, Upgrade\r\n"
      "Upgrade: websocket\r\n"
      "Expect: 100-continue\r\n"
      "\r\n";
  expect_incremental(data);
  const parsed whole = parse(data);
  EXPECT_EQ(whole.head.host, "api.example.com:8080");
  EXPECT_EQ(whole.head.framing, body_framing::chunked);
  EXPECT_TRUE(whole.head.upgrade);
  EXPECT_TRUE(whole.head.expect_continue);
  expect_incremental("GET / HTTP/1.0\r\n\r\n");
}

TEST(RequestParser, AbsoluteFormTakesPathQueryAndHost) {
  parsed p = parse("GET http://api.example.com/v1/users?id=3 HTTP/1.1\r\n\r\n");
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.head.target, "http://api.example.com/v1/users?id=3");
  EXPECT_EQ(p.head.path, "/v1/users");
  EXPECT_EQ(p.head.query, "id=3");
  EXPECT_EQ(p.head.host, "api.example.com");

  p = parse("GET HTTPS://h:443?q HTTP/1.1\r\nHost: ignored\r\n\r\n");
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.head.path, "/");
  EXPECT_EQ(p.head.query, "q");
  EXPECT_EQ(p.head.host, "h:443");  // RFC 9112 3.2.2: the target's authority wins

  EXPECT_EQ(error_of("GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n"), parse_error::bad_request_line);
  EXPECT_EQ(error_of("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n"), parse_error::bad_request_line);
  EXPECT_EQ(error_of("GET http://u@h/x HTTP/1.1\r\nHost: h\r\n\r\n"),
            parse_error::bad_request_line);
  EXPECT_EQ(error_of("GET x/y HTTP/1.1\r\nHost: h\r\n\r\n"), parse_error::bad_request_line);
}

TEST(RequestParser, AsteriskAndAuthorityForms) {
  parsed p = parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.head.path, "*");
  p = parse("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n");
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.head.target, "h:443");
  EXPECT_EQ(p.head.host, "h:443");
  EXPECT_EQ(error_of("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), parse_error::bad_request_line);
}

TEST(RequestParser, Http10KeepAliveRules) {
  parsed p = parse("GET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.head.ver, version::http10);
  EXPECT_FALSE(p.head.keep_alive);
  EXPECT_TRUE(p.head.host.empty());

  p = parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  EXPECT_TRUE(p.head.keep_alive);
  p = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n");
  EXPECT_FALSE(p.head.keep_alive);
  // Upgrade and 100-continue mean nothing in HTTP/1.0.
  p = parse(
      "GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: h2c\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_FALSE(p.head.upgrade);
  EXPECT_FALSE(p.head.expect_continue);
}

TEST(RequestParser, Http11ConnectionRules) {
  parsed p = parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, CLOSE\r\n\r\n");
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_FALSE(p.head.keep_alive);
  p = parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n");
  EXPECT_FALSE(p.head.upgrade);  // no Upgrade header
  p = parse("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_FALSE(p.head.upgrade);  // not listed in Connection
  p = parse("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n\r\n");
  EXPECT_TRUE(p.head.expect_continue);
}

TEST(RequestParser, ContentLengthForms) {
  parsed p = parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n");
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.head.content_length, 5u);
  p = parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\ncontent-length: 007\r\n\r\n");
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.head.content_length, 7u);
  p = parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n");
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.head.content_length, 18446744073709551615u);
  p = parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(p.head.framing, body_framing::content_length);
  EXPECT_EQ(p.head.content_length, 0u);
}

TEST(RequestParser, ChunkedIsCaseInsensitiveWithOws) {
  const parsed p = parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:  ChUnKeD \r\n\r\n");
  ASSERT_EQ(p.result.status, parse_status::complete);
  EXPECT_EQ(p.head.framing, body_framing::chunked);
}

// ---- rejections ----

constexpr std::string_view host = "Host: h\r\n";

std::string request_with(std::string_view fields, std::string_view line = "POST / HTTP/1.1\r\n") {
  return std::string(line) + std::string(fields) + "\r\n";
}

TEST(RequestParser, RejectsContentLengthAndChunked) {
  EXPECT_EQ(
      error_of(request_with("Host: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n")),
      parse_error::length_and_chunked);
  EXPECT_EQ(
      error_of(request_with("Host: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n")),
      parse_error::length_and_chunked);
}

TEST(RequestParser, RejectsBadContentLength) {
  for (const char* v : {"5, 6", "abc", "-1", "+1", "1 2", "", "5,", ",5", "0x10", "1.0",
                        "18446744073709551616", "99999999999999999999999"}) {
    EXPECT_EQ(error_of(request_with("Host: h\r\nContent-Length: "s + v + "\r\n")),
              parse_error::bad_content_length)
        << v;
  }
  EXPECT_EQ(error_of(request_with("Host: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n")),
            parse_error::bad_content_length);
}

TEST(RequestParser, RejectsTransferEncodingOtherThanSingleChunked) {
  for (const char* v : {"gzip, chunked", "chunked, chunked", "identity", "chunked, gzip", "",
                        "chunked,", ",chunked", "chunked;x=1", "chunk ed"}) {
    EXPECT_EQ(error_of(request_with("Host: h\r\nTransfer-Encoding: "s + v + "\r\n")),
              parse_error::bad_transfer_encoding)
        << v;
  }
  EXPECT_EQ(error_of(request_with(
                "Host: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n")),
            parse_error::bad_transfer_encoding);
  EXPECT_EQ(error_of(request_with("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.0\r\n")),
            parse_error::bad_transfer_encoding);
}

TEST(RequestParser, RejectsBadHeaderLines) {
  const char* cases[] = {
      "Host: h\r\nX-A : 1\r\n",        // space before colon
      "Host: h\r\nX-A\t: 1\r\n",       // tab before colon
      "Host: h\r\nX-A: 1\r\n  2\r\n",  // obs-fold
      "Host: h\r\nX-A: 1\r\n\t2\r\n",  // obs-fold with HTAB
      "Host: h\r\nX-A: 1\r2\r\n",      // bare CR in value
      "Host: h\r\nX-A: 1\n",           // bare LF ending a line
      "Host: h\r\nX-A: a\x01"
      "b\r\n",                        // CTL in value
      "Host: h\r\nX-A: a\x7f\r\n",    // DEL in value
      "Host: h\r\n: empty-name\r\n",  // empty name
      "Host: h\r\nX(A): 1\r\n",       // non-token name
      "Host: h\r\nNoColon\r\n",       // no colon
      "Host: h/x\r\n",                // Host with a path in it
      "Host: u@h\r\n",                // Host with userinfo
  };
  for (const char* c : cases) {
    EXPECT_EQ(error_of(request_with(c, "GET / HTTP/1.1\r\n")), parse_error::bad_header) << c;
  }
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"s), parse_error::bad_header);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\n\n"), parse_error::bad_header);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\n\rX"), parse_error::bad_header);
}

TEST(RequestParser, RejectsBadRequestLines) {
  const char* cases[] = {
      "GET  / HTTP/1.1\r\n",         // two spaces
      "GET /  HTTP/1.1\r\n",         // two spaces after target
      "GET / HTTP/1.1 \r\n",         // trailing space
      "GET\t/ HTTP/1.1\r\n",         // HTAB separator
      " GET / HTTP/1.1\r\n",         // leading space
      "GET / HTTP/1.1\n",            // bare LF
      "GET / HTTP/1.1\rX",           // bare CR
      "GET /\r\n",                   // HTTP/0.9
      "GET / http/1.1\r\n",          // version is case-sensitive
      "GET / HTTP/1.10\r\n",         // three-digit version
      "GET / HTTP/11\r\n",           // no dot
      "G(T / HTTP/1.1\r\n",          // non-token method
      "GET /a#frag HTTP/1.1\r\n",    // fragment
      "GET /\x01 HTTP/1.1\r\n",      // CTL in target
      "GET /\xC3\xA9 HTTP/1.1\r\n",  // raw non-ASCII in target
      "\nGET / HTTP/1.1\r\n",        // bare LF before the request line
  };
  for (const char* c : cases) {
    EXPECT_EQ(error_of(std::string(c) + "Host: h\r\n\r\n"), parse_error::bad_request_line) << c;
  }
}

// The value and target scanners go a word at a time; a bad byte must be found
// at every offset within and after a word, not only in the byte-wise tail.
TEST(RequestParser, BadBytesAtEveryOffsetOfLongValues) {
  for (std::size_t at = 0; at < 40; ++at) {
    for (char bad : {'\0', '\x01', '\x1f', '\x7f', '\n'}) {
      std::string value(40, 'v');
      value[at] = bad;
      EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nX: " + value + "\r\n\r\n"),
                parse_error::bad_header)
          << at << " " << int(bad);
    }
    for (char fine : {'\t', '\x80', '\xff', ' ', '~'}) {
      std::string value(40, 'v');
      value[at] = fine;
      const std::string data = "GET / HTTP/1.1\r\nHost: h\r\nX: " + value + "\r\n\r\n";
      const parsed p = parse(data);
      ASSERT_EQ(p.result.status, parse_status::complete) << at << " " << int(fine);
      // Whitespace at either end is optional whitespace, not value.
      const bool trimmed = (at == 0 || at == 39) && (fine == '\t' || fine == ' ');
      EXPECT_EQ(p.head.find("X")->value,
                trimmed ? value.substr(at == 0 ? 1 : 0, 39) : std::string_view(value));
    }
  }
}

TEST(RequestParser, BadBytesAtEveryOffsetOfLongTargets) {
  for (std::size_t at = 1; at < 40; ++at) {
    for (char bad : {'\0', '\t', '\x7f', '\x80', '\xff', '#'}) {
      std::string target(40, 'a');
      target[0] = '/';
      target[at] = bad;
      EXPECT_EQ(error_of("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n"),
                parse_error::bad_request_line)
          << at << " " << int(bad);
    }
    std::string target(40, 'a');
    target[0] = '/';
    target[at] = '~';
    const std::string data = "GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n";
    const parsed p = parse(data);
    ASSERT_EQ(p.result.status, parse_status::complete);
    EXPECT_EQ(p.head.target, target);
  }
}

TEST(RequestParser, ErrorsComeBeforeTheHeadEnds) {
  // Enough bytes to prove the error, far from the CRLF CRLF.
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nX-A : 1"), parse_error::bad_header);
  EXPECT_EQ(error_of("GET / HTTX"), parse_error::bad_request_line);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\nb"), parse_error::bad_header);
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n"),
            parse_error::bad_content_length);
}

TEST(RequestParser, RejectsUnsupportedVersions) {
  for (const char* v : {"HTTP/2.0", "HTTP/0.9", "HTTP/1.2", "HTTP/3.0"}) {
    EXPECT_EQ(error_of("GET / "s + v + "\r\nHost: h\r\n\r\n"), parse_error::unsupported_version)
        << v;
  }
}

TEST(RequestParser, RejectsMissingAndMultipleHosts) {
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"), parse_error::missing_host);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), parse_error::multiple_hosts);
  EXPECT_EQ(error_of("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"), parse_error::multiple_hosts);
}

TEST(RequestParser, HeadTooLarge) {
  parse_limits limits;
  limits.max_head_bytes = 64;
  const std::string good = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  EXPECT_EQ(parse(good, limits).result.status, parse_status::complete);

  std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(64, 'a') + "\r\n\r\n";
  EXPECT_EQ(error_of(big, limits), parse_error::head_too_large);
  // Incomplete and already longer than the limit.
  EXPECT_EQ(error_of(big.substr(0, 65), limits), parse_error::head_too_large);
  // Incomplete but within the limit: wait.
  EXPECT_EQ(parse(big.substr(0, 64), limits).result.status, parse_status::incomplete);

  // Exactly at the limit is fine.
  std::string exact = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
  exact += std::string(64 - exact.size() - 4, 'b') + "\r\n\r\n";
  ASSERT_EQ(exact.size(), 64u);
  EXPECT_EQ(parse(exact + "GET", limits).result.status, parse_status::complete);
  EXPECT_EQ(parse_status::error, parse(exact.insert(20, "c") + "GET", limits).result.status);
  EXPECT_EQ(status_for(parse_error::head_too_large), 431u);
}

TEST(RequestParser, TooManyHeaders) {
  parse_limits limits;
  limits.max_headers = 3;
  EXPECT_EQ(parse(request_with("Host: h\r\nA: 1\r\nB: 2\r\n"), limits).result.status,
            parse_status::complete);
  EXPECT_EQ(error_of(request_with("Host: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n"), limits),
            parse_error::too_many_headers);
}

TEST(RequestParser, StatusAndText) {
  EXPECT_EQ(status_for(parse_error::bad_request_line), 400u);
  EXPECT_EQ(status_for(parse_error::bad_header), 400u);
  EXPECT_EQ(status_for(parse_error::length_and_chunked), 400u);
  EXPECT_EQ(status_for(parse_error::missing_host), 400u);
  EXPECT_EQ(status_for(parse_error::too_many_headers), 431u);
  EXPECT_EQ(status_for(parse_error::unsupported_version), 505u);
  EXPECT_EQ(status_for(parse_error::bad_status_line), 502u);
  EXPECT_NE(to_string(parse_error::bad_header).find("colon"), std::string_view::npos);
  EXPECT_NE(to_string(parse_error::missing_host), to_string(parse_error::multiple_hosts));
}

TEST(RequestParser, ReusesHeadAcrossParses) {
  request_head head;
  head.headers.reserve(16);
  const auto cap = head.headers.capacity();
  ASSERT_EQ(parse_request_head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n", {}, head)
                .status,
            parse_status::complete);
  ASSERT_EQ(parse_request_head("GET / HTTP/1.1\r\nHost: b\r\n\r\n", {}, head).status,
            parse_status::complete);
  EXPECT_EQ(head.framing, body_framing::none);
  EXPECT_EQ(head.content_length, 0u);
  EXPECT_EQ(head.headers.size(), 1u);
  EXPECT_EQ(head.headers.capacity(), cap);
}

}  // namespace
}  // namespace cohort::http
