#include "routing/matcher.hpp"

#include <algorithm>

#include "routing/ascii.hpp"
#include "routing/request_fields.hpp"

namespace cohort::routing {

namespace {

std::unique_ptr<RE2> compile_regex(const std::string& pattern, std::string_view what,
                                   std::vector<std::string>& errors) {
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_unique<RE2>(pattern, options);
  if (!re->ok()) {
    errors.push_back(std::string(what) + ": invalid regex '" + pattern + "': " + re->error());
    return nullptr;
  }
  return re;
}

int cost(config::match_kind k) {
  return (k == config::match_kind::regex || k == config::match_kind::semver) ? 1 : 0;
}

void compile_fields(const std::vector<config::field_match>& in, field_source source,
                    std::string_view what, std::vector<compiled_field>& out,
                    std::vector<std::string>& errors) {
  for (const config::field_match& f : in) {
    compiled_field c;
    c.source = source;
    c.name = f.name;
    c.kind = f.kind;
    c.value = f.value;
    c.invert = f.invert;
    const std::string label = std::string(what) + " '" + f.name + "'";
    if (f.kind == config::match_kind::regex) {
      c.regex = compile_regex(f.value, label, errors);
      if (!c.regex) {
        continue;
      }
      c.regex_lits = analyse_regex(f.value);
    } else if (f.kind == config::match_kind::semver) {
      auto range = parse_semver_range(f.value);
      if (!range) {
        errors.push_back(label + ": invalid semver range '" + f.value + "'");
        continue;
      }
      c.range = std::move(*range);
    }
    out.push_back(std::move(c));
  }
}

}  // namespace

std::string_view strip_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  const std::size_t colon = host.find(':');
  if (colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos) {
    return host.substr(0, colon);
  }
  return host;  // no port, or a bare IPv6 address
}

std::optional<compiled_match> compiled_match::compile(const config::request_match& m,
                                                      std::vector<std::string>& errors) {
  const std::size_t errors_before = errors.size();
  compiled_match c;
  std::string_view host = m.host;
  if (host.starts_with("*.")) {
    c.host_suffix_ = true;
    host.remove_prefix(1);  // keep the dot: "*.example.com" must not match "badexample.com"
  }
  c.host_ = to_lower_copy(strip_port(host));
  c.path_exact_ = m.path_exact;
  c.path_prefix_ = m.path_prefix;
  if (m.path_regex) {
    c.path_regex_ = compile_regex(*m.path_regex, "path_regex", errors);
    c.path_regex_lits_ = analyse_regex(*m.path_regex);
  }
  c.methods_ = m.methods;
  compile_fields(m.headers, field_source::header, "header", c.fields_, errors);
  compile_fields(m.cookies, field_source::cookie, "cookie", c.fields_, errors);
  compile_fields(m.query, field_source::query, "query parameter", c.fields_, errors);
  // All conditions must hold, so their order is free: put the cheap ones first.
  std::stable_sort(
      c.fields_.begin(), c.fields_.end(),
      [](const compiled_field& a, const compiled_field& b) { return cost(a.kind) < cost(b.kind); });
  c.first_costly_ = static_cast<std::size_t>(
      std::find_if(c.fields_.begin(), c.fields_.end(),
                   [](const compiled_field& f) { return cost(f.kind) > 0; }) -
      c.fields_.begin());
  c.has_users_ = !m.users.empty();
  c.users_.insert(m.users.begin(), m.users.end());
  c.only_path_prefix_ = c.path_prefix_ && c.host_.empty() && c.methods_.empty() && !c.path_exact_ &&
                        !c.path_regex_ && c.fields_.empty() && !c.has_users_;
  if (errors.size() != errors_before) {
    return std::nullopt;
  }
  return c;
}

bool regex_full_match(const RE2& re, const regex_literals& lits, std::string_view text) {
  if (const auto decided = match_by_literals(lits, text)) {
    return *decided;
  }
  return RE2::FullMatch(re2::StringPiece(text.data(), text.size()), re);
}

bool field_matches(const compiled_field& f, std::optional<std::string_view> value) {
  bool result = false;
  switch (f.kind) {
    case config::match_kind::present:
      result = value.has_value();
      break;
    case config::match_kind::absent:
      result = !value.has_value();
      break;
    case config::match_kind::exact:
      result = value && *value == f.value;
      break;
    case config::match_kind::prefix:
      result = value && value->starts_with(f.value);
      break;
    case config::match_kind::suffix:
      result = value && value->ends_with(f.value);
      break;
    case config::match_kind::regex:
      result = value && f.regex && regex_full_match(*f.regex, f.regex_lits, *value);
      break;
    case config::match_kind::semver:
      if (value) {
        const auto v = parse_semver(*value);
        result = v && satisfies(*v, f.range);
      }
      break;
  }
  return f.invert ? !result : result;
}

void compiled_match::bind(field_catalog& catalog) {
  for (compiled_field& f : fields_) {
    switch (f.source) {
      case field_source::header:
        f.slot = catalog.add_header(f.name);
        break;
      case field_source::cookie:
        f.slot = catalog.add_cookie(f.name);
        break;
      case field_source::query:
        f.slot = catalog.add_query(f.name);
        break;
    }
  }
}

namespace {

bool field_holds(const compiled_field& f, field_values& fields) {
  std::optional<std::string_view> value;
  switch (f.source) {
    case field_source::header:
      value = fields.header(f.slot, f.name);
      if (f.kind == config::match_kind::semver) {
        // Several cohorts may test one version header: parse it once.
        bool result = false;
        if (value) {
          const auto v = fields.header_semver(f.slot, *value);
          result = v && satisfies(*v, f.range);
        }
        return f.invert ? !result : result;
      }
      break;
    case field_source::cookie:
      value = fields.cookie(f.slot, f.name);
      break;
    case field_source::query:
      value = fields.query(f.slot, f.name);
      break;
  }
  return field_matches(f, value);
}

}  // namespace

bool compiled_match::matches(const request_view& request, user_key_source* key) const {
  field_values fields(request, nullptr);
  return matches(fields, key);
}

bool compiled_match::matches(field_values& fields, user_key_source* key) const {
  const request_view& request = fields.request();
  if (only_path_prefix_) {
    // The usual route: one path prefix, nothing else.
    const std::string& prefix = *path_prefix_;
    return request.path.size() >= prefix.size() &&
           std::equal(prefix.begin(), prefix.end(), request.path.begin());
  }
  if (!host_.empty()) {
    const std::string_view host = strip_port(request.host);
    if (host_suffix_ ? !(host.size() > host_.size() && iends_with(host, host_))
                     : !iequals(host, host_)) {
      return false;
    }
  }
  if (!methods_.empty() &&
      std::find(methods_.begin(), methods_.end(), request.method) == methods_.end()) {
    return false;
  }
  if (path_exact_ && request.path != *path_exact_) {
    return false;
  }
  if (path_prefix_ && !request.path.starts_with(*path_prefix_)) {
    return false;
  }
  // All conditions must hold and none has an effect, so the order is free:
  // the cheapest first.
  for (std::size_t i = 0; i < first_costly_; ++i) {
    if (!field_holds(fields_[i], fields)) {
      return false;
    }
  }
  if (has_users_) {
    const auto k = key ? key->user_key() : std::nullopt;
    if (!k || users_.find(*k) == users_.end()) {
      return false;
    }
  }
  for (std::size_t i = first_costly_; i < fields_.size(); ++i) {
    if (!field_holds(fields_[i], fields)) {
      return false;
    }
  }
  if (path_regex_ && !regex_full_match(*path_regex_, path_regex_lits_, request.path)) {
    return false;
  }
  return true;
}

}  // namespace cohort::routing
