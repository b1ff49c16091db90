#pragma once
// Runs R (Rscript) to get independent reference values for the tests. The
// tests skip, saying so, when R is not installed.

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace cohort::analysis::testing {

inline bool have_r() {
#ifdef COHORT_RSCRIPT
  return true;
#else
  return false;
#endif
}

// Writes the script to a temporary file, runs it, returns its stdout.
inline std::optional<std::string> run_r(const std::string& script) {
#ifdef COHORT_RSCRIPT
  char path[] = "/tmp/cohort_analysis_XXXXXX.R";
  const int fd = mkstemps(path, 2);
  if (fd < 0) {
    return std::nullopt;
  }
  {
    std::ofstream out(path);
    out << script;
  }
  std::fclose(fdopen(fd, "w"));
  const std::string cmd = std::string(COHORT_RSCRIPT) + " --vanilla " + path + " 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) {
    std::remove(path);
    return std::nullopt;
  }
  std::string output;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) {
    output += buf;
  }
  const int status = pclose(pipe);
  std::remove(path);
  if (status != 0) {
    return std::nullopt;
  }
  return output;
#else
  (void)script;
  return std::nullopt;
#endif
}

inline std::string r_vector(const std::vector<double>& v) {
  std::ostringstream out;
  out.precision(17);
  out << "c(";
  for (std::size_t i = 0; i < v.size(); ++i) {
    out << (i ? "," : "") << v[i];
  }
  out << ")";
  return out.str();
}

inline std::vector<double> parse_numbers(const std::string& text) {
  std::istringstream in(text);
  std::vector<double> out;
  std::string token;
  while (in >> token) {
    out.push_back(token == "Inf" ? HUGE_VAL : token == "-Inf" ? -HUGE_VAL : std::stod(token));
  }
  return out;
}

}  // namespace cohort::analysis::testing
