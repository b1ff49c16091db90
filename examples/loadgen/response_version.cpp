#include "response_version.hpp"

#include <nlohmann/json.hpp>

namespace cohort::loadgen {

std::string response_version(std::string_view body, std::string_view version_header) {
  if (!body.empty() && body.front() == '{') {
    const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) {
      const auto it = j.find("version");
      if (it != j.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
        return it->get<std::string>();
      }
    }
  }
  return std::string(version_header);
}

}  // namespace cohort::loadgen
