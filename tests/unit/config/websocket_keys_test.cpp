// gateway.websocket: defaults, values, and errors with their place.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader.hpp"
#include "config_errors.hpp"

namespace cohort::config {
namespace {

using std::chrono::milliseconds;

const std::string head = R"(gateway:
  listeners: [{name: p, address: 127.0.0.1:0}]
)";

TEST(WebsocketKeys, DefaultsWhenAbsent) {
  const auto loaded = load_config_text(head, "t.yaml");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.value().gateway.websocket.idle_timeout, milliseconds(600'000));
  EXPECT_EQ(loaded.value().gateway.websocket.rollback_grace, milliseconds(5'000));
}

TEST(WebsocketKeys, ValuesAreRead) {
  const auto loaded = load_config_text(
      head + "  websocket: {idle_timeout: 90s, rollback_grace: 250ms}\n", "t.yaml");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.value().gateway.websocket.idle_timeout, milliseconds(90'000));
  EXPECT_EQ(loaded.value().gateway.websocket.rollback_grace, milliseconds(250));
}

TEST(WebsocketKeys, ZeroGraceClosesAtOnce) {
  for (const char* zero : {"0", "0s", "0ms"}) {
    const auto loaded = load_config_text(
        head + "  websocket: {rollback_grace: " + std::string(zero) + "}\n", "t.yaml");
    ASSERT_TRUE(loaded.ok()) << zero;
    EXPECT_EQ(loaded.value().gateway.websocket.rollback_grace, milliseconds(0)) << zero;
  }
}

TEST(WebsocketKeys, ErrorsNameThePlace) {
  EXPECT_EQ(errors(head + "  websocket: {idle_timeout: 0s}\n"),
            std::vector<std::string>{
                "t.yaml:3:29: gateway websocket: idle_timeout must be longer than 0"});
  EXPECT_EQ(errors(head + "  websocket: {rollback_grace: soon}\n"),
            std::vector<std::string>{"t.yaml:3:31: gateway websocket: rollback_grace 'soon' is not "
                                     "a duration (like 0s, 500ms, 5s)"});
  const auto unknown = errors(head + "  websocket: {idle: 5s}\n");
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_NE(unknown[0].find("t.yaml:3:"), std::string::npos) << unknown[0];
  EXPECT_NE(unknown[0].find("idle"), std::string::npos) << unknown[0];
}

}  // namespace
}  // namespace cohort::config
