// gateway.proxy_headers: defaults, values, and errors with their place.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader.hpp"
#include "config_errors.hpp"

namespace cohort::config {
namespace {

const std::string head = R"(gateway:
  listeners: [{name: p, address: 127.0.0.1:0}]
)";

TEST(ProxyHeadersKeys, AllOnWhenAbsent) {
  const auto loaded = load_config_text(head, "t.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& added = loaded.value().gateway.proxy_headers;
  EXPECT_TRUE(added.x_forwarded);
  EXPECT_TRUE(added.via);
  EXPECT_TRUE(added.traceparent);
}

TEST(ProxyHeadersKeys, EachIsRead) {
  const auto loaded = load_config_text(
      head + "  proxy_headers: {x_forwarded: false, via: false, traceparent: false}\n", "t.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& added = loaded.value().gateway.proxy_headers;
  EXPECT_FALSE(added.x_forwarded);
  EXPECT_FALSE(added.via);
  EXPECT_FALSE(added.traceparent);

  const auto via_only = load_config_text(head + "  proxy_headers: {via: false}\n", "t.yaml");
  ASSERT_TRUE(via_only.ok());
  EXPECT_TRUE(via_only.value().gateway.proxy_headers.x_forwarded);
  EXPECT_FALSE(via_only.value().gateway.proxy_headers.via);
  EXPECT_TRUE(via_only.value().gateway.proxy_headers.traceparent);
}

TEST(ProxyHeadersKeys, ErrorsNameThePlace) {
  EXPECT_EQ(errors(head + "  proxy_headers: {via: maybe}\n"),
            std::vector<std::string>{
                "t.yaml:3:24: gateway proxy_headers: via 'maybe' is not true or false"});
  const auto unknown = errors(head + "  proxy_headers: {x_forwarded_for: false}\n");
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_NE(unknown[0].find("t.yaml:3:"), std::string::npos) << unknown[0];
  EXPECT_NE(unknown[0].find("x_forwarded_for"), std::string::npos) << unknown[0];
}

}  // namespace
}  // namespace cohort::config
