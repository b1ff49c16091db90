#pragma once
// Reading YAML nodes as configuration objects. Every problem becomes a
// diagnostic at the node it concerns and reading goes on, so that one pass
// reports everything that is wrong with a file.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/loader.hpp"

namespace cohort::config::detail {

// Collects the diagnostics of one file.
class context {
 public:
  explicit context(std::string file) : file_(std::move(file)) {}

  source_location where(const YAML::Mark& mark) const;
  source_location where(const YAML::Node& node) const { return where(node.Mark()); }
  void error(const source_location& at, std::string message);
  void error(const YAML::Node& at, std::string message) { error(where(at), std::move(message)); }

  // Sorted by place; problems found later at the same place keep their order.
  diagnostics take();

 private:
  std::string file_;
  diagnostics diags_;
};

// One "key: value" pair of a map.
struct field {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

// Where to report a bad value: the value, or its key when the value is empty
// (yaml-cpp places an empty value at the next token, often on another line).
source_location value_place(const context& cx, const field& f);

// The closest of the candidates to a misspelt word, if one is close enough.
std::optional<std::string> closest(std::string_view word,
                                   const std::vector<std::string>& candidates);
// " (did you mean 'x'?)" or "".
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

// Plain numbers as written in YAML: "12", "0.5"; nullopt otherwise.
std::optional<std::uint64_t> parse_count(std::string_view s);
std::optional<double> parse_number(std::string_view s);
// A byte size: "65536", "64KiB", "100MiB", "1GiB".
std::optional<std::uint64_t> parse_bytes(std::string_view s);

// Names of configuration objects: letters, digits, '-', '_' and '.'.
bool is_name(std::string_view s);
// An HTTP token (RFC 9110): header names, cookie names, methods.
bool is_token(std::string_view s);

// How messages name the index-th (0-based) object of a list: "<kind> '<name>'"
// from its name key, or "<kind> <index + 1>" when it has no usable name.
std::string label(const YAML::Node& node, std::string_view kind, std::size_t index);

// The items of a list value; an empty value is an empty list. Anything else is
// reported as "<what>: <key> must be a list".
std::vector<YAML::Node> list_items(context& cx, const std::string& what, const field& f);

// A YAML map read as an object with a fixed set of keys. Unknown and repeated
// keys are reported by check_keys(), so the readers only deal with known keys.
// An empty node is an object with no fields; anything else but a map is reported.
class object {
 public:
  object(context& cx, const YAML::Node& node, std::string what,
         std::initializer_list<std::string_view> keys);
  // The value of a field; problems of the object as a whole are reported at
  // the key when the value is empty.
  object(context& cx, const field& f, std::string what,
         std::initializer_list<std::string_view> keys);

  bool is_map() const { return is_map_; }
  const std::string& what() const { return what_; }
  source_location where() const { return where_; }
  const std::vector<field>& fields() const { return fields_; }

  // Reports unknown keys (at the key, with a suggestion) and repeated keys.
  void check_keys();

  const field* find(std::string_view key) const;
  // Reports "<what>: missing required key '<key>'" at the object when absent.
  const field* require(std::string_view key);

  // "<what>: <problem>" at the field's value, or at the object.
  void error(const field& f, std::string problem) const;
  void error(std::string problem) const;

  // Readers: nullopt when the key is absent or its value is bad (then reported).
  std::optional<std::string> text(std::string_view key) const;
  std::optional<std::string> name(std::string_view key) const;  // is_name()
  std::optional<bool> boolean(std::string_view key) const;
  std::optional<std::uint64_t> count(std::string_view key, std::uint64_t min = 0,
                                     std::uint64_t max = UINT64_MAX) const;
  std::optional<double> number(std::string_view key) const;
  std::optional<duration> positive_duration(std::string_view key) const;
  std::optional<basis_points> share(std::string_view key) const;  // 0..100%
  std::optional<std::uint64_t> bytes(std::string_view key) const;
  std::optional<host_port> address(std::string_view key) const;

  template <class E>
  std::optional<E> choice(std::string_view key,
                          std::initializer_list<std::pair<std::string_view, E>> options) const {
    const auto s = text(key);
    if (!s) {
      return std::nullopt;
    }
    for (const auto& [word, value] : options) {
      if (*s == word) {
        return value;
      }
    }
    std::vector<std::string> words;
    for (const auto& option : options) {
      words.emplace_back(option.first);
    }
    bad_choice(*find(key), *s, words);
    return std::nullopt;
  }

 private:
  // The scalar text of a present key; reports a list or map given instead.
  std::optional<std::string> scalar(std::string_view key, const field** out) const;
  void bad_choice(const field& f, const std::string& got,
                  const std::vector<std::string>& words) const;

  context& cx_;
  std::string what_;
  source_location where_;
  std::vector<std::string> keys_;
  std::vector<field> fields_;
  bool is_map_ = false;
};

}  // namespace cohort::config::detail
