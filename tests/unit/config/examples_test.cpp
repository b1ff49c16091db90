// Every example configuration in the repository loads without a diagnostic,
// so the examples (and the documentation that quotes them) cannot rot.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "config/loader.hpp"

namespace cohort::config {
namespace {

std::vector<std::filesystem::path> example_configs() {
  std::vector<std::filesystem::path> out;
  const std::filesystem::path dir = std::filesystem::path(COHORT_SOURCE_DIR) / "examples/configs";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const auto ext = entry.path().extension();
    if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml")) {
      out.push_back(entry.path());
    }
  }
  return out;
}

TEST(ExampleConfigs, AllLoadWithoutErrors) {
  const auto files = example_configs();
  // The reference and the minimal example at least.
  ASSERT_GE(files.size(), 2u);
  for (const auto& file : files) {
    SCOPED_TRACE(file.string());
    const auto loaded = load_config_file(file.string());
    std::string problems;
    if (!loaded) {
      for (const auto& d : loaded.err()) {
        problems += d.to_string() + "\n";
      }
    }
    EXPECT_TRUE(loaded.ok()) << problems;
  }
}

}  // namespace
}  // namespace cohort::config
