#include "routing/jwt.hpp"

#include <string>

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace cohort::routing {
namespace {

using testing::base64url;
using testing::bearer;

std::optional<std::string> claim(std::string_view auth, std::string_view name) {
  scratch_buffer scratch;
  const auto v = jwt_claim(auth, name, scratch);
  return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
}

TEST(Jwt, Base64UrlDecodes) {
  char out[32];
  const auto n = base64url_decode(base64url("hello?>"), out);
  ASSERT_TRUE(n);
  EXPECT_EQ(std::string_view(out, *n), "hello?>");
  const auto padded = base64url_decode("aGk=", out);
  ASSERT_TRUE(padded);
  EXPECT_EQ(std::string_view(out, *padded), "hi");
  EXPECT_FALSE(base64url_decode("a", out));
  EXPECT_FALSE(base64url_decode("ab$c", out));
}

TEST(Jwt, ReadsStringClaim) {
  EXPECT_EQ(claim(bearer(R"({"iss":"x","sub":"user-42","exp":1})"), "sub"), "user-42");
  EXPECT_EQ(claim("bearer " + bearer(R"({"sub":"a"})").substr(7), "sub"), "a");
}

TEST(Jwt, ReadsNumericClaimAsText) {
  EXPECT_EQ(claim(bearer(R"({"uid": 12345, "sub":"s"})"), "uid"), "12345");
}

TEST(Jwt, SkipsNestedValuesAndUnescapes) {
  const auto token =
      bearer(R"({"ctx":{"sub":"nested","a":[1,{"b":"}"}]},"name":"caf\u00e9 \"x\"","sub":"top"})");
  EXPECT_EQ(claim(token, "sub"), "top");  // only top-level claims count
  EXPECT_EQ(claim(token, "name"), "caf\xc3\xa9 \"x\"");
}

TEST(Jwt, RejectsOtherShapes) {
  EXPECT_FALSE(claim(bearer(R"({"sub":true})"), "sub"));
  EXPECT_FALSE(claim(bearer(R"({"sub":null})"), "sub"));
  EXPECT_FALSE(claim(bearer(R"({"other":"x"})"), "sub"));
  EXPECT_FALSE(claim(bearer(R"(["sub"])"), "sub"));
  EXPECT_FALSE(claim(bearer("not json"), "sub"));
  EXPECT_FALSE(claim("Basic dXNlcjpwYXNz", "sub"));
  EXPECT_FALSE(claim("Bearer onlyonepart", "sub"));
  EXPECT_FALSE(claim("Bearer a.!!!.c", "sub"));
}

TEST(Jwt, LargePayloadSpillsToHeap) {
  const std::string big(3000, 'x');
  EXPECT_EQ(claim(bearer(R"({"pad":")" + big + R"(","sub":"late"})"), "sub"), "late");
}

}  // namespace
}  // namespace cohort::routing
