#pragma once
// Structured logs: one JSON object per line on stderr, written with a single
// write(2) so that lines from several workers never interleave.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace cohort::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3 };

struct field {
  std::string_view key;
  std::string_view value;
  bool raw = false;  // value is already JSON (a number, true/false, an object)
};

void set_min_level(level min);
level min_level();

void write(level lvl, std::string_view msg, std::initializer_list<field> fields);
// Writes a complete line as given (the access log builds its own JSON).
void write_line(std::string_view json_line);

inline void debug(std::string_view msg, std::initializer_list<field> f = {}) {
  if (min_level() <= level::debug) {
    write(level::debug, msg, f);
  }
}
inline void info(std::string_view msg, std::initializer_list<field> f = {}) {
  write(level::info, msg, f);
}
inline void warn(std::string_view msg, std::initializer_list<field> f = {}) {
  write(level::warn, msg, f);
}
inline void error(std::string_view msg, std::initializer_list<field> f = {}) {
  write(level::error, msg, f);
}

// Appends s to out as the body of a JSON string (without quotes).
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace cohort::log
