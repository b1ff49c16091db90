#include "config/config.hpp"

namespace cohort::config {

std::string diagnostic::to_string() const {
  // Without a line (an unreadable file), the place is just the file, as compilers print it.
  if (where.line <= 0) {
    return where.file + ": " + message;
  }
  return where.file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
         message;
}

}  // namespace cohort::config
