#pragma once
#include <string_view>

namespace cohort {

// One name/value pair of a message head, as views into the bytes it came from.
struct header_field {
  std::string_view name;
  std::string_view value;
};

}  // namespace cohort
