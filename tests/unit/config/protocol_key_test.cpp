// The protocol key of a service: http1 by default, http2 on request, errors with their place.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader.hpp"

namespace cohort::config {
namespace {

const std::string head = R"(gateway:
  listeners: [{name: p, address: 127.0.0.1:0}]
services:
  - name: api
    subsets:
      stable: { endpoints: [127.0.0.1:9001] }
)";

TEST(ProtocolKey, DefaultsToHttp1) {
  const auto loaded = load_config_text(head, "t.yaml");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.value().services.at(0).protocol, upstream_protocol::http1);
}

TEST(ProtocolKey, ReadsBothValues) {
  for (const auto& [text, want] : {std::pair{"http1", upstream_protocol::http1},
                                   std::pair{"http2", upstream_protocol::http2}}) {
    const auto loaded = load_config_text(head + "    protocol: " + text + "\n", "t.yaml");
    ASSERT_TRUE(loaded.ok()) << text;
    EXPECT_EQ(loaded.value().services.at(0).protocol, want) << text;
  }
}

TEST(ProtocolKey, UnknownValueNamesThePlace) {
  const auto loaded = load_config_text(head + "    protocol: h2c\n", "t.yaml");
  ASSERT_FALSE(loaded.ok());
  ASSERT_EQ(loaded.err().size(), 1u);
  const std::string msg = loaded.err()[0].to_string();
  EXPECT_TRUE(msg.starts_with("t.yaml:7:15: service 'api': protocol")) << msg;
  EXPECT_NE(msg.find("h2c"), std::string::npos) << msg;
  EXPECT_NE(msg.find("http2"), std::string::npos) << msg;
}

TEST(ProtocolKey, MisspelledKeyIsCaught) {
  const auto loaded = load_config_text(head + "    protocl: http2\n", "t.yaml");
  ASSERT_FALSE(loaded.ok());
  ASSERT_EQ(loaded.err().size(), 1u);
  EXPECT_EQ(loaded.err()[0].to_string(),
            "t.yaml:7:5: service 'api': unknown key 'protocl' (did you mean 'protocol'?)");
}

}  // namespace
}  // namespace cohort::config
