// gRPC facts the gateway reads from messages: content type, grpc-status, its
// class for analysis, and grpc-timeout.

#include <gtest/gtest.h>

#include <string>

#include "http/grpc.hpp"
#include "http/parser.hpp"

namespace cohort::http {
namespace {

using std::chrono::milliseconds;

TEST(Grpc, ContentTypes) {
  EXPECT_TRUE(is_grpc("application/grpc"));
  EXPECT_TRUE(is_grpc("application/grpc+proto"));
  EXPECT_TRUE(is_grpc("Application/GRPC+json"));
  EXPECT_TRUE(is_grpc("application/grpc; charset=utf-8"));
  EXPECT_FALSE(is_grpc("application/grpc-web"));
  EXPECT_FALSE(is_grpc("application/grpc-web+proto"));
  EXPECT_FALSE(is_grpc("application/json"));
  EXPECT_FALSE(is_grpc("application/grp"));
  EXPECT_FALSE(is_grpc(""));
}

TEST(Grpc, StatusValues) {
  EXPECT_EQ(parse_grpc_status("0"), 0u);
  EXPECT_EQ(parse_grpc_status(" 14 "), 14u);
  EXPECT_EQ(parse_grpc_status("4294967295"), 4294967295u);
  EXPECT_FALSE(parse_grpc_status("4294967296").has_value());
  EXPECT_FALSE(parse_grpc_status("").has_value());
  EXPECT_FALSE(parse_grpc_status("-1").has_value());
  EXPECT_FALSE(parse_grpc_status("1x").has_value());
}

TEST(Grpc, StatusInTrailerLines) {
  EXPECT_EQ(grpc_status_in_trailers("grpc-status: 0\r\n"), 0u);
  EXPECT_EQ(grpc_status_in_trailers("grpc-message: down\r\nGrpc-Status: 14\r\n"), 14u);
  EXPECT_EQ(grpc_status_in_trailers("x-grpc-status: 1\r\ngrpc-status:13"), 13u);
  EXPECT_FALSE(grpc_status_in_trailers("grpc-message: hi\r\n").has_value());
  EXPECT_FALSE(grpc_status_in_trailers("").has_value());
}

response_head parse_head(const std::string& bytes) {
  response_head head;
  const auto r = parse_response_head(bytes, parse_limits{65536, 100}, false, head);
  EXPECT_EQ(r.status, parse_status::complete);
  return head;
}

TEST(Grpc, FinalStatusPrefersTrailersThenHeadThenUnknown) {
  const std::string trailers_only =
      "HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ngrpc-status: 14\r\n"
      "content-length: 0\r\n\r\n";
  const auto head = parse_head(trailers_only);
  EXPECT_EQ(grpc_status_in_head(head), 14u);
  EXPECT_EQ(grpc_final_status(head, ""), 14u);
  EXPECT_EQ(grpc_final_status(head, "grpc-status: 0\r\n"), 0u);

  const std::string plain =
      "HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ntransfer-encoding: chunked\r\n\r\n";
  const auto no_status = parse_head(plain);
  EXPECT_FALSE(grpc_status_in_head(no_status).has_value());
  EXPECT_EQ(grpc_final_status(no_status, "grpc-status: 5\r\n"), 5u);
  EXPECT_EQ(grpc_final_status(no_status, ""), grpc_code::unknown);
}

TEST(Grpc, ClassesForAnalysis) {
  EXPECT_EQ(classify_grpc_status(0), grpc_class::ok);
  for (const std::uint32_t s : {2u, 4u, 13u, 14u}) {
    EXPECT_EQ(classify_grpc_status(s), grpc_class::server_error) << s;
    EXPECT_TRUE(grpc_status_is_error(s)) << s;
  }
  // CANCELLED, INVALID_ARGUMENT, NOT_FOUND, ..., UNAUTHENTICATED and unknown codes.
  for (const std::uint32_t s : {1u, 3u, 5u, 6u, 7u, 8u, 9u, 10u, 11u, 12u, 15u, 16u, 99u}) {
    EXPECT_EQ(classify_grpc_status(s), grpc_class::client_error) << s;
    EXPECT_FALSE(grpc_status_is_error(s)) << s;
  }
  EXPECT_FALSE(grpc_status_is_error(0));
}

TEST(Grpc, TimeoutUnits) {
  EXPECT_EQ(parse_grpc_timeout("100m"), milliseconds(100));
  EXPECT_EQ(parse_grpc_timeout("5S"), milliseconds(5000));
  EXPECT_EQ(parse_grpc_timeout("2M"), milliseconds(120'000));
  EXPECT_EQ(parse_grpc_timeout("1H"), milliseconds(3'600'000));
  EXPECT_EQ(parse_grpc_timeout("1500u"), milliseconds(2));  // rounded up
  EXPECT_EQ(parse_grpc_timeout("1000u"), milliseconds(1));
  EXPECT_EQ(parse_grpc_timeout("1n"), milliseconds(1));
  EXPECT_EQ(parse_grpc_timeout("0m"), milliseconds(0));
  EXPECT_EQ(parse_grpc_timeout("99999999H"), milliseconds(99'999'999LL * 3'600'000));
}

TEST(Grpc, MalformedTimeouts) {
  for (const char* bad : {"", "m", "100", "100x", "123456789m", "1.5S", "-1S", "S1", "10 m"}) {
    EXPECT_FALSE(parse_grpc_timeout(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace cohort::http
