// gateway.http2: defaults, values, and errors with their place.

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

TEST(Http2Keys, DefaultsWhenAbsent) {
  const auto loaded = load_config_text(head, "t.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& h2 = loaded.value().gateway.http2;
  EXPECT_EQ(h2.max_concurrent_streams, 100u);
  EXPECT_EQ(h2.initial_window_size, 1u << 20);
  EXPECT_EQ(h2.max_header_list_size, 65536u);
}

TEST(Http2Keys, Values) {
  const auto loaded =
      load_config_text(head +
                           "  http2: { max_concurrent_streams: 8, initial_window_size: 256KiB, "
                           "max_header_list_size: 16KiB }\n",
                       "t.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& h2 = loaded.value().gateway.http2;
  EXPECT_EQ(h2.max_concurrent_streams, 8u);
  EXPECT_EQ(h2.initial_window_size, 256u * 1024);
  EXPECT_EQ(h2.max_header_list_size, 16u * 1024);
}

TEST(Http2Keys, ErrorsNameThePlace) {
  EXPECT_EQ(
      errors(head + "  http2: { max_concurrent_streams: 0, initial_window_size: 3GiB, "
                    "max_header_list_size: 10 }\n"),
      (lines{
          "t.yaml:3:36: gateway http2: max_concurrent_streams 0 is below 1",
          "t.yaml:3:60: gateway http2: initial_window_size must be between 65535 bytes "
          "and 2GiB - 1",
          "t.yaml:3:88: gateway http2: max_header_list_size must be between 1KiB and 4GiB - 1",
      }));
  const auto unknown = errors(head + "  http2: { max_streams: 5 }\n");
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_NE(unknown[0].find("t.yaml:3:12: gateway http2: unknown key 'max_streams'"),
            std::string::npos)
      << unknown[0];
}

}  // namespace
}  // namespace cohort::config
