#include "config/yaml_object.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace cohort::config::detail {

source_location context::where(const YAML::Mark& mark) const {
  source_location loc;
  loc.file = file_;
  if (mark.line >= 0) {
    loc.line = mark.line + 1;
    loc.column = mark.column + 1;
  }
  return loc;
}

void context::error(const source_location& at, std::string message) {
  diags_.push_back(diagnostic{at, std::move(message)});
}

diagnostics context::take() {
  std::stable_sort(diags_.begin(), diags_.end(), [](const diagnostic& a, const diagnostic& b) {
    return std::pair(a.where.line, a.where.column) < std::pair(b.where.line, b.where.column);
  });
  return std::move(diags_);
}

source_location value_place(const context& cx, const field& f) {
  return cx.where(f.value.IsNull() ? f.key_node : f.value);
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const std::size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::optional<std::string> closest(std::string_view word,
                                   const std::vector<std::string>& candidates) {
  // A third of the word may be wrong (at least one letter): enough for typos
  // and swapped letters, not so much that unrelated words are suggested.
  const std::size_t limit = std::max<std::size_t>(1, word.size() / 3);
  std::optional<std::string> best;
  std::size_t best_distance = limit + 1;
  for (const auto& candidate : candidates) {
    const std::size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  const auto best = closest(word, candidates);
  return best ? " (did you mean '" + *best + "'?)" : std::string();
}

std::optional<std::uint64_t> parse_count(std::string_view s) {
  std::uint64_t out = 0;
  if (s.empty()) {
    return std::nullopt;
  }
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc{} || p != s.data() + s.size()) {
    return std::nullopt;
  }
  return out;
}

std::optional<double> parse_number(std::string_view s) {
  double out = 0;
  if (s.empty()) {
    return std::nullopt;
  }
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc{} || p != s.data() + s.size() || !std::isfinite(out)) {
    return std::nullopt;
  }
  return out;
}

std::optional<std::uint64_t> parse_bytes(std::string_view s) {
  std::uint64_t unit = 1;
  for (const auto& [suffix, size] : {std::pair<std::string_view, std::uint64_t>{"KiB", 1ull << 10},
                                     {"MiB", 1ull << 20},
                                     {"GiB", 1ull << 30}}) {
    if (s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix) {
      unit = size;
      s.remove_suffix(suffix.size());
      break;
    }
  }
  const auto n = parse_count(s);
  if (!n || *n > UINT64_MAX / unit) {
    return std::nullopt;
  }
  return *n * unit;
}

bool is_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

bool is_token(std::string_view s) {
  constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           extra.find(c) != std::string_view::npos;
  });
}

std::string label(const YAML::Node& node, std::string_view kind, std::size_t index) {
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == "name" && it->second.IsScalar() &&
          !it->second.Scalar().empty()) {
        return std::string(kind) + " '" + it->second.Scalar() + "'";
      }
    }
  }
  return std::string(kind) + " " + std::to_string(index + 1);
}

std::vector<YAML::Node> list_items(context& cx, const std::string& what, const field& f) {
  std::vector<YAML::Node> items;
  if (f.value.IsNull()) {
    return items;
  }
  if (!f.value.IsSequence()) {
    cx.error(value_place(cx, f), what + ": " + f.key + " must be a list");
    return items;
  }
  for (const auto& item : f.value) {
    items.push_back(item);
  }
  return items;
}

object::object(context& cx, const YAML::Node& node, std::string what,
               std::initializer_list<std::string_view> keys)
    : cx_(cx), what_(std::move(what)), where_(cx.where(node)), keys_(keys.begin(), keys.end()) {
  if (node.IsNull()) {
    is_map_ = true;
    return;
  }
  if (!node.IsMap()) {
    cx_.error(node, what_ + " must be a map of keys to values");
    return;
  }
  is_map_ = true;
  for (auto it = node.begin(); it != node.end(); ++it) {
    fields_.push_back(
        field{it->first.IsScalar() ? it->first.Scalar() : std::string(), it->first, it->second});
  }
}

object::object(context& cx, const field& f, std::string what,
               std::initializer_list<std::string_view> keys)
    : object(cx, f.value, std::move(what), keys) {
  where_ = value_place(cx, f);
}

void object::check_keys() {
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    const field& f = fields_[i];
    if (!f.key_node.IsScalar()) {
      cx_.error(f.key_node, what_ + ": a key must be a plain word");
      continue;
    }
    if (std::find(keys_.begin(), keys_.end(), f.key) == keys_.end()) {
      cx_.error(f.key_node, what_ + ": unknown key '" + f.key + "'" + did_you_mean(f.key, keys_));
      continue;
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (fields_[j].key == f.key) {
        cx_.error(f.key_node, what_ + ": key '" + f.key + "' is repeated (first at line " +
                                  std::to_string(cx_.where(fields_[j].key_node).line) + ")");
        break;
      }
    }
  }
}

const field* object::find(std::string_view key) const {
  for (const auto& f : fields_) {
    if (f.key == key) {
      return &f;
    }
  }
  return nullptr;
}

const field* object::require(std::string_view key) {
  const field* f = find(key);
  if (f == nullptr && is_map_) {
    // A misspelling of the key is reported as an unknown key with a suggestion;
    // saying also that the key is missing would only be noise.
    const bool misspelt = std::any_of(fields_.begin(), fields_.end(), [&](const field& other) {
      return std::find(keys_.begin(), keys_.end(), other.key) == keys_.end() &&
             closest(other.key, keys_) == key;
    });
    if (!misspelt) {
      error("missing required key '" + std::string(key) + "'");
    }
  }
  return f;
}

void object::error(const field& f, std::string problem) const {
  cx_.error(value_place(cx_, f), what_ + ": " + problem);
}

void object::error(std::string problem) const {
  cx_.error(where_, what_ + ": " + problem);
}

std::optional<std::string> object::scalar(std::string_view key, const field** out) const {
  const field* f = find(key);
  *out = f;
  if (f == nullptr) {
    return std::nullopt;
  }
  if (f->value.IsNull()) {
    error(*f, f->key + " needs a value");
    return std::nullopt;
  }
  if (!f->value.IsScalar()) {
    error(*f, f->key + " must be a single value, not a " +
                  (f->value.IsSequence() ? std::string("list") : std::string("map")));
    return std::nullopt;
  }
  return f->value.Scalar();
}

std::optional<std::string> object::text(std::string_view key) const {
  const field* f = nullptr;
  return scalar(key, &f);
}

std::optional<std::string> object::name(std::string_view key) const {
  const field* f = nullptr;
  auto s = scalar(key, &f);
  if (s && !is_name(*s)) {
    error(*f, f->key + " '" + *s + "' may only contain letters, digits, '-', '_' and '.'");
    return std::nullopt;
  }
  return s;
}

std::optional<bool> object::boolean(std::string_view key) const {
  const field* f = nullptr;
  const auto s = scalar(key, &f);
  if (!s) {
    return std::nullopt;
  }
  if (*s == "true" || *s == "True" || *s == "TRUE") {
    return true;
  }
  if (*s == "false" || *s == "False" || *s == "FALSE") {
    return false;
  }
  error(*f, f->key + " '" + *s + "' is not true or false");
  return std::nullopt;
}

std::optional<std::uint64_t> object::count(std::string_view key, std::uint64_t min,
                                           std::uint64_t max) const {
  const field* f = nullptr;
  const auto s = scalar(key, &f);
  if (!s) {
    return std::nullopt;
  }
  const auto n = parse_count(*s);
  if (!n) {
    error(*f, f->key + " '" + *s + "' is not a whole number");
    return std::nullopt;
  }
  if (*n < min) {
    error(*f, f->key + " " + *s + " is below " + std::to_string(min));
    return std::nullopt;
  }
  if (*n > max) {
    error(*f, f->key + " " + *s + " is above " + std::to_string(max));
    return std::nullopt;
  }
  return n;
}

std::optional<double> object::number(std::string_view key) const {
  const field* f = nullptr;
  const auto s = scalar(key, &f);
  if (!s) {
    return std::nullopt;
  }
  const auto n = parse_number(*s);
  if (!n) {
    error(*f, f->key + " '" + *s + "' is not a number");
  }
  return n;
}

std::optional<duration> object::positive_duration(std::string_view key) const {
  const field* f = nullptr;
  const auto s = scalar(key, &f);
  if (!s) {
    return std::nullopt;
  }
  const auto d = parse_duration(*s);
  if (!d) {
    error(*f, f->key + " '" + *s + "' is not a duration (like 250ms, 15s, 5m, 1h)");
    return std::nullopt;
  }
  if (d->count() == 0) {
    error(*f, f->key + " must be longer than 0");
    return std::nullopt;
  }
  return d;
}

std::optional<basis_points> object::share(std::string_view key) const {
  const field* f = nullptr;
  const auto s = scalar(key, &f);
  if (!s) {
    return std::nullopt;
  }
  const auto bp = parse_share(*s);
  if (!bp) {
    const bool bare = parse_number(*s).has_value();
    error(*f, f->key + " '" + *s + "' is not a share (like 5% or 0.25%" +
                  (bare ? "; write " + *s + "%" : std::string()) + ")");
    return std::nullopt;
  }
  if (*bp > full_share) {
    error(*f, f->key + " " + *s + " is above 100%");
    return std::nullopt;
  }
  return bp;
}

std::optional<std::uint64_t> object::bytes(std::string_view key) const {
  const field* f = nullptr;
  const auto s = scalar(key, &f);
  if (!s) {
    return std::nullopt;
  }
  const auto n = parse_bytes(*s);
  if (!n) {
    error(*f, f->key + " '" + *s + "' is not a size in bytes (like 65536, 64KiB, 100MiB)");
  }
  return n;
}

std::optional<host_port> object::address(std::string_view key) const {
  const field* f = nullptr;
  const auto s = scalar(key, &f);
  if (!s) {
    return std::nullopt;
  }
  auto hp = parse_host_port(*s);
  if (!hp) {
    error(*f, f->key + " '" + *s + "' is not host:port (like 127.0.0.1:8080 or [::1]:8080)");
  }
  return hp;
}

void object::bad_choice(const field& f, const std::string& got,
                        const std::vector<std::string>& words) const {
  std::string list;
  for (const auto& w : words) {
    list += (list.empty() ? "" : ", ") + w;
  }
  error(f, f.key + " '" + got + "' is not one of " + list + did_you_mean(got, words));
}

}  // namespace cohort::config::detail
