#include "routing/request_fields.hpp"

#include <gtest/gtest.h>

#include "routing/matcher.hpp"
#include "test_support.hpp"

namespace cohort::routing {
namespace {

using testing::fake_request;

TEST(RequestFields, FirstHeaderByCaseInsensitiveName) {
  fake_request r;
  r.header("x-user-id", "first").header("X-USER-ID", "second");
  EXPECT_EQ(find_header(r, "X-User-Id"), "first");
  EXPECT_FALSE(find_header(r, "X-User"));
}

TEST(RequestFields, CookieAmongSeveral) {
  fake_request r;
  r.header("Cookie", "theme=dark; session=abc123;lang=en")
      .header("cookie", "other=1; cohort_uid=\"00ff\"");
  EXPECT_EQ(find_cookie(r, "session"), "abc123");
  EXPECT_EQ(find_cookie(r, "theme"), "dark");
  EXPECT_EQ(find_cookie(r, "lang"), "en");
  EXPECT_EQ(find_cookie(r, "cohort_uid"), "00ff");  // second header, quotes removed
  EXPECT_FALSE(find_cookie(r, "Session"));          // cookie names are case-sensitive
  EXPECT_FALSE(find_cookie(r, "sess"));
  EXPECT_FALSE(find_cookie(r, "missing"));
}

TEST(RequestFields, CookieSkipsMalformedPairs) {
  fake_request r;
  r.header("Cookie", "garbage; ;a=1");
  EXPECT_EQ(find_cookie(r, "a"), "1");
  EXPECT_FALSE(find_cookie(r, "garbage"));
}

TEST(RequestFields, QueryParameters) {
  EXPECT_EQ(find_query_param("a=1&user=42&b=2", "user"), "42");
  EXPECT_EQ(find_query_param("user=1&user=2", "user"), "1");
  EXPECT_EQ(find_query_param("debug&x=1", "debug"), "");
  EXPECT_EQ(find_query_param("x=", "x"), "");
  EXPECT_FALSE(find_query_param("username=3", "user"));
  EXPECT_FALSE(find_query_param("", "user"));
  // Not percent-decoded: the raw text is compared.
  EXPECT_EQ(find_query_param("u=a%20b", "u"), "a%20b");
  EXPECT_FALSE(find_query_param("user%5Fid=1", "user_id"));
}

TEST(RequestFields, StripPortFromHost) {
  EXPECT_EQ(strip_port("Example.com:8080"), "Example.com");
  EXPECT_EQ(strip_port("example.com"), "example.com");
  EXPECT_EQ(strip_port("[::1]:80"), "[::1]");
  EXPECT_EQ(strip_port("::1"), "::1");
}

}  // namespace
}  // namespace cohort::routing
