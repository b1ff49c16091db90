#include "routing/matcher.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace cohort::routing {
namespace {

using config::match_kind;
using testing::fake_request;
using testing::field;

compiled_match compile_ok(const config::request_match& m) {
  std::vector<std::string> errors;
  auto c = compiled_match::compile(m, errors);
  EXPECT_TRUE(c.has_value());
  EXPECT_TRUE(errors.empty());
  return c ? std::move(*c) : compiled_match{};
}

bool header_matches(config::field_match f, const fake_request& r) {
  return compile_ok(testing::header_match(std::move(f))).matches(r, nullptr);
}

class fixed_key final : public user_key_source {
 public:
  explicit fixed_key(std::optional<std::string_view> k) : key_(k) {}
  std::optional<std::string_view> user_key() override {
    ++calls;
    return key_;
  }
  int calls = 0;

 private:
  std::optional<std::string_view> key_;
};

TEST(Matcher, EmptyMatchesEverything) {
  EXPECT_TRUE(compile_ok({}).matches(fake_request{}, nullptr));
}

TEST(Matcher, HeaderKinds) {
  fake_request r;
  r.header("X-Cohort", "internal-staff");
  EXPECT_TRUE(header_matches(field("x-cohort", match_kind::exact, "internal-staff"), r));
  EXPECT_FALSE(header_matches(field("X-Cohort", match_kind::exact, "internal"), r));
  EXPECT_FALSE(header_matches(field("X-Cohort", match_kind::exact, "Internal-Staff"), r));
  EXPECT_TRUE(header_matches(field("X-Cohort", match_kind::prefix, "internal"), r));
  EXPECT_FALSE(header_matches(field("X-Cohort", match_kind::prefix, "staff"), r));
  EXPECT_TRUE(header_matches(field("X-Cohort", match_kind::suffix, "-staff"), r));
  EXPECT_FALSE(header_matches(field("X-Cohort", match_kind::suffix, "internal"), r));
  EXPECT_TRUE(header_matches(field("X-Cohort", match_kind::regex, "intern.*-st[a-z]+"), r));
  // A full match: a pattern matching only a part is false.
  EXPECT_FALSE(header_matches(field("X-Cohort", match_kind::regex, "intern"), r));
  EXPECT_TRUE(header_matches(field("X-Cohort", match_kind::present), r));
  EXPECT_FALSE(header_matches(field("X-Other", match_kind::present), r));
  EXPECT_TRUE(header_matches(field("X-Other", match_kind::absent), r));
  EXPECT_FALSE(header_matches(field("X-Cohort", match_kind::absent), r));
}

TEST(Matcher, MissingHeaderFailsValueKinds) {
  fake_request r;
  for (auto kind : {match_kind::exact, match_kind::prefix, match_kind::suffix, match_kind::regex,
                    match_kind::semver}) {
    EXPECT_FALSE(header_matches(field("X-None", kind, kind == match_kind::semver ? "<1" : "a"), r));
  }
}

TEST(Matcher, InvertNegates) {
  fake_request r;
  r.header("X-Cohort", "internal");
  EXPECT_FALSE(header_matches(field("X-Cohort", match_kind::exact, "internal", true), r));
  EXPECT_TRUE(header_matches(field("X-Cohort", match_kind::exact, "beta", true), r));
  EXPECT_TRUE(header_matches(field("X-None", match_kind::exact, "beta", true), r));
  EXPECT_FALSE(header_matches(field("X-Cohort", match_kind::present, "", true), r));
  EXPECT_TRUE(header_matches(field("X-Cohort", match_kind::absent, "", true), r));
  EXPECT_FALSE(header_matches(field("X-Cohort", match_kind::regex, "int.*", true), r));
  EXPECT_TRUE(header_matches(field("X-Cohort", match_kind::prefix, "beta", true), r));
  EXPECT_TRUE(header_matches(field("X-Cohort", match_kind::suffix, "x", true), r));
}

TEST(Matcher, SemverOnHeader) {
  const auto legacy = field("X-App-Version", match_kind::semver, "<5.2.0");
  const auto window = field("X-App-Version", match_kind::semver, ">=5.2.0 <6");
  auto with = [](std::string v) {
    fake_request r;
    r.header("X-App-Version", std::move(v));
    return r;
  };
  EXPECT_TRUE(header_matches(legacy, with("5.1.9")));
  EXPECT_FALSE(header_matches(legacy, with("5.2.0")));
  EXPECT_TRUE(header_matches(window, with("5.9.1")));
  EXPECT_FALSE(header_matches(window, with("6.0.0")));
  EXPECT_FALSE(header_matches(legacy, with("garbage")));
  EXPECT_FALSE(header_matches(window, with("garbage")));
  // Inverted, a version that does not parse is "not in the range".
  EXPECT_TRUE(
      header_matches(field("X-App-Version", match_kind::semver, "<5.2.0", true), with("garbage")));
}

TEST(Matcher, FirstOfRepeatedHeadersCounts) {
  fake_request r;
  r.header("X-Cohort", "beta").header("X-Cohort", "internal");
  EXPECT_FALSE(header_matches(field("X-Cohort", match_kind::exact, "internal"), r));
  EXPECT_TRUE(header_matches(field("X-Cohort", match_kind::exact, "beta"), r));
}

TEST(Matcher, CookiesAndQuery) {
  config::request_match m;
  m.cookies.push_back(field("plan", match_kind::exact, "pro"));
  m.query.push_back(field("preview", match_kind::present));
  const auto c = compile_ok(m);
  fake_request yes;
  yes.header("Cookie", "a=1; plan=pro").query("x=1&preview");
  EXPECT_TRUE(c.matches(yes, nullptr));
  fake_request no_cookie;
  no_cookie.header("Cookie", "plan=free").query("preview=1");
  EXPECT_FALSE(c.matches(no_cookie, nullptr));
  fake_request no_query;
  no_query.header("Cookie", "plan=pro").query("previewing=1");
  EXPECT_FALSE(c.matches(no_query, nullptr));
}

TEST(Matcher, HostExactIgnoresCaseAndPort) {
  config::request_match m;
  m.host = "API.example.com";
  const auto c = compile_ok(m);
  EXPECT_TRUE(c.matches(fake_request{}.host("api.example.com"), nullptr));
  EXPECT_TRUE(c.matches(fake_request{}.host("Api.Example.Com:8443"), nullptr));
  EXPECT_FALSE(c.matches(fake_request{}.host("www.example.com"), nullptr));
  EXPECT_FALSE(c.matches(fake_request{}.host("api.example.com.evil"), nullptr));
}

TEST(Matcher, HostSuffix) {
  config::request_match m;
  m.host = "*.example.com";
  const auto c = compile_ok(m);
  EXPECT_TRUE(c.matches(fake_request{}.host("api.example.com"), nullptr));
  EXPECT_TRUE(c.matches(fake_request{}.host("a.b.EXAMPLE.com:80"), nullptr));
  EXPECT_FALSE(c.matches(fake_request{}.host("example.com"), nullptr));
  EXPECT_FALSE(c.matches(fake_request{}.host("badexample.com"), nullptr));
}

TEST(Matcher, Paths) {
  config::request_match exact;
  exact.path_exact = "/profile";
  EXPECT_TRUE(compile_ok(exact).matches(fake_request{}.path("/profile"), nullptr));
  EXPECT_FALSE(compile_ok(exact).matches(fake_request{}.path("/profile/1"), nullptr));
  config::request_match prefix;
  prefix.path_prefix = "/profile";
  EXPECT_TRUE(compile_ok(prefix).matches(fake_request{}.path("/profile/1"), nullptr));
  EXPECT_FALSE(compile_ok(prefix).matches(fake_request{}.path("/prof"), nullptr));
  config::request_match regex;
  regex.path_regex = "/users/[0-9]+";
  EXPECT_TRUE(compile_ok(regex).matches(fake_request{}.path("/users/42"), nullptr));
  EXPECT_FALSE(compile_ok(regex).matches(fake_request{}.path("/users/42/x"), nullptr));
}

TEST(Matcher, Methods) {
  config::request_match m;
  m.methods = {"GET", "HEAD"};
  const auto c = compile_ok(m);
  EXPECT_TRUE(c.matches(fake_request{}.method("HEAD"), nullptr));
  EXPECT_FALSE(c.matches(fake_request{}.method("POST"), nullptr));
}

TEST(Matcher, AllConditionsMustHold) {
  config::request_match m;
  m.path_prefix = "/profile";
  m.methods = {"GET"};
  m.headers.push_back(field("X-Beta", match_kind::present));
  const auto c = compile_ok(m);
  fake_request r;
  r.header("X-Beta", "1");
  EXPECT_TRUE(c.matches(r, nullptr));
  fake_request put = r;
  put.method("PUT");
  EXPECT_FALSE(c.matches(put, nullptr));
  EXPECT_FALSE(c.matches(fake_request{}, nullptr));
}

TEST(Matcher, UsersListUsesTheKeyOnlyWhenNeeded) {
  config::request_match m;
  m.users = {"2048", "4096"};
  const auto c = compile_ok(m);
  fixed_key member("4096");
  EXPECT_TRUE(c.matches(fake_request{}, &member));
  fixed_key stranger("1");
  EXPECT_FALSE(c.matches(fake_request{}, &stranger));
  fixed_key anonymous(std::nullopt);
  EXPECT_FALSE(c.matches(fake_request{}, &anonymous));
  EXPECT_FALSE(c.matches(fake_request{}, nullptr));

  fixed_key untouched("4096");
  EXPECT_TRUE(compile_ok({}).matches(fake_request{}, &untouched));
  EXPECT_EQ(untouched.calls, 0);
}

TEST(Matcher, ReportsBadRegexAndRange) {
  config::request_match m;
  m.path_regex = "(";
  m.headers.push_back(field("X-V", match_kind::semver, "<<"));
  m.headers.push_back(field("X-R", match_kind::regex, "[a-"));
  std::vector<std::string> errors;
  EXPECT_FALSE(compiled_match::compile(m, errors));
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0].find("path_regex"), std::string::npos);
  EXPECT_NE(errors[1].find("X-V"), std::string::npos);
  EXPECT_NE(errors[2].find("X-R"), std::string::npos);
}

}  // namespace
}  // namespace cohort::routing
