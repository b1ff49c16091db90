// Each class of configuration error, with the exact place and message.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader.hpp"

namespace cohort::config {
namespace {

std::vector<std::string> errors(const std::string& yaml) {
  const auto loaded = load_config_text(yaml, "t.yaml");
  std::vector<std::string> out;
  if (!loaded) {
    for (const auto& d : loaded.err()) {
      out.push_back(d.to_string());
    }
  }
  return out;
}

TEST(ConfigErrors, Scratch) {
  for (const auto& e : errors("gateway:\n  listeners: []\n")) {
    std::cout << e << "\n";
  }
}

}  // namespace
}  // namespace cohort::config
