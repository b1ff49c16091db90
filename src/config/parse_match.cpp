#include <re2/re2.h>

#include <algorithm>

#include "config/parsers.hpp"
#include "config/semver_range.hpp"

namespace cohort::config::detail {

namespace {

// Returns RE2's complaint about the pattern, or nothing when it compiles.
std::optional<std::string> regex_error(const std::string& pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  const RE2 re(pattern, options);
  if (re.ok()) {
    return std::nullopt;
  }
  return re.error();
}

constexpr std::pair<std::string_view, match_kind> matchers[] = {
    {"exact", match_kind::exact},  {"prefix", match_kind::prefix},   {"suffix", match_kind::suffix},
    {"regex", match_kind::regex},  {"present", match_kind::present}, {"absent", match_kind::absent},
    {"semver", match_kind::semver}};

void parse_field_match(context& cx, const YAML::Node& node, const std::string& what,
                       std::string_view kind, std::size_t index, std::vector<field_match>& out) {
  object o(cx, node, what + " " + label(node, kind, index),
           {"name", "exact", "prefix", "suffix", "regex", "present", "absent", "semver", "invert"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  field_match m;
  m.where = o.where();
  o.require("name");
  if (const auto name = o.text("name")) {
    if (kind == "header" && !is_token(*name)) {
      o.error(*o.find("name"), "'" + *name + "' is not a valid header name");
    } else if (name->empty()) {
      o.error(*o.find("name"), "name must not be empty");
    }
    m.name = *name;
  }
  std::vector<const field*> given;
  for (const auto& [key, k] : matchers) {
    if (const field* f = o.find(key)) {
      given.push_back(f);
      m.kind = k;
    }
  }
  if (given.empty()) {
    o.error("needs one of exact, prefix, suffix, regex, present: true, absent: true, semver");
    return;
  }
  if (given.size() > 1) {
    o.error(*given[1], "has both " + given[0]->key + " and " + given[1]->key +
                           "; use one matcher per entry (list the " + std::string(kind) +
                           " twice to combine)");
    return;
  }
  const field& matcher = *given[0];
  if (m.kind == match_kind::present || m.kind == match_kind::absent) {
    if (const auto b = o.boolean(matcher.key); b && !*b) {
      o.error(matcher, matcher.key + " must be true (write " +
                           (m.kind == match_kind::present ? "absent" : "present") +
                           ": true for the opposite)");
    }
  } else if (const auto value = o.text(matcher.key)) {
    m.value = *value;
    if (m.kind == match_kind::regex) {
      if (const auto problem = regex_error(m.value)) {
        o.error(matcher, "regex '" + m.value + "' does not compile: " + *problem);
      }
    } else if (m.kind == match_kind::semver) {
      const auto range = parse_semver_range(m.value);
      if (!range) {
        o.error(matcher, "semver range '" + m.value + "': " + range.err().message);
      }
    }
  }
  if (const auto invert = o.boolean("invert")) {
    m.invert = *invert;
  }
  out.push_back(std::move(m));
}

void parse_field_matches(context& cx, const object& o, const std::string& owner,
                         std::string_view key, std::string_view kind,
                         std::vector<field_match>& out) {
  const field* f = o.find(key);
  if (f == nullptr) {
    return;
  }
  const auto items = list_items(cx, o.what(), *f);
  for (std::size_t i = 0; i < items.size(); ++i) {
    parse_field_match(cx, items[i], owner, kind, i, out);
  }
}

void check_path(const object& o, std::string_view key, std::optional<std::string>& out) {
  out = o.text(key);
  if (out && !out->starts_with('/')) {
    o.error(*o.find(key), std::string(key) + " '" + *out + "' must start with '/'");
  }
}

}  // namespace

void parse_match(context& cx, const field& f, const std::string& what, bool cohort,
                 request_match& out) {
  object o =
      cohort ? object(cx, f, what + " match",
                      {"host", "path_exact", "path_prefix", "path_regex", "methods", "headers",
                       "cookies", "query", "users"})
             : object(cx, f, what + " match",
                      {"host", "path_exact", "path_prefix", "path_regex", "methods", "headers"});
  o.check_keys();
  out.where = o.where();
  if (const auto host = o.text("host")) {
    const std::string_view rest = std::string_view(*host).substr(host->starts_with("*.") ? 2 : 0);
    if (rest.empty() || rest.find_first_of(" \t*/") != std::string_view::npos) {
      o.error(*o.find("host"),
              "host '" + *host + "' is not a host name (like api.example.com or *.example.com)");
    }
    out.host = *host;
  }
  check_path(o, "path_exact", out.path_exact);
  check_path(o, "path_prefix", out.path_prefix);
  out.path_regex = o.text("path_regex");
  if (out.path_regex) {
    if (const auto problem = regex_error(*out.path_regex)) {
      o.error(*o.find("path_regex"),
              "path_regex '" + *out.path_regex + "' does not compile: " + *problem);
    }
  }
  const int paths = (out.path_exact ? 1 : 0) + (out.path_prefix ? 1 : 0) + (out.path_regex ? 1 : 0);
  if (paths > 1) {
    o.error("use only one of path_exact, path_prefix and path_regex");
  }
  if (const field* methods = o.find("methods")) {
    for (const auto& item : list_items(cx, o.what(), *methods)) {
      if (!item.IsScalar() || !is_token(item.Scalar())) {
        cx.error(item, o.what() + ": method '" + (item.IsScalar() ? item.Scalar() : "") +
                           "' is not an HTTP method");
      } else {
        out.methods.push_back(item.Scalar());
      }
    }
  }
  parse_field_matches(cx, o, what, "headers", "header", out.headers);
  parse_field_matches(cx, o, what, "cookies", "cookie", out.cookies);
  parse_field_matches(cx, o, what, "query", "query parameter", out.query);
  if (const field* users = o.find("users")) {
    for (const auto& item : list_items(cx, o.what(), *users)) {
      if (!item.IsScalar() || item.Scalar().empty()) {
        cx.error(item, o.what() + ": a user must be a non-empty string");
      } else {
        out.users.push_back(item.Scalar());
      }
    }
  }
}

}  // namespace cohort::config::detail
