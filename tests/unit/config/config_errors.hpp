#pragma once
// What loading a configuration text reports, for the key tests: every
// diagnostic as "file:line:column: message", none when it loads.

#include <string>
#include <vector>

#include "config/loader.hpp"

namespace cohort::config {

using lines = std::vector<std::string>;

inline lines errors(const std::string& yaml) {
  const auto loaded = load_config_text(yaml, "t.yaml");
  lines out;
  if (!loaded) {
    for (const auto& d : loaded.err()) {
      out.push_back(d.to_string());
    }
  }
  return out;
}

}  // namespace cohort::config
