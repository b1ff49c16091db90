#include "http/field_rules.hpp"

#include "http/char_class.hpp"

namespace cohort::http::detail {

namespace {

// Calls f(element) for each comma-separated element, OWS trimmed, empty ones
// included (the caller decides whether an empty element is an error); stops
// early when f returns false and then returns false itself.
template <class F>
bool for_each_element(std::string_view list, F&& f) {
  for (;;) {
    const std::size_t comma = list.find(',');
    if (!f(trim_ows(list.substr(0, comma)))) {
      return false;
    }
    if (comma == std::string_view::npos) {
      return true;
    }
    list.remove_prefix(comma + 1);
  }
}

bool is_token(std::string_view s) {
  return !s.empty() && skip_tchars(s.data(), s.data() + s.size()) == s.data() + s.size();
}

bool parse_decimal(std::string_view s, std::uint64_t& out) {
  if (s.empty()) {
    return false;
  }
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) {
      return false;
    }
    v = v * 10 + d;
  }
  out = v;
  return true;
}

parse_error note_transfer_encoding(std::string_view value, field_facts& facts) {
  const bool ok = for_each_element(value, [&](std::string_view element) {
    // A coding may carry parameters ("gzip;q=1" is not one, but "x;p=v" is
    // legal syntax); only its name decides the framing.
    const std::string_view name = trim_ows(element.substr(0, element.find(';')));
    if (!is_token(name)) {
      return false;  // empty element or a non-token name: refuse to guess
    }
    ++facts.te_codings;
    facts.te_last_chunked = iequals(name, "chunked") && name.size() == element.size();
    if (facts.te_last_chunked) {
      ++facts.te_chunked;
    }
    return true;
  });
  return ok ? parse_error::none : parse_error::bad_transfer_encoding;
}

void note_connection(std::string_view value, field_facts& facts) {
  for_each_element(value, [&](std::string_view option) {
    if (iequals(option, "close")) {
      facts.connection_close = true;
    } else if (iequals(option, "keep-alive")) {
      facts.connection_keep_alive = true;
    } else if (iequals(option, "upgrade")) {
      facts.connection_upgrade = true;
    }
    return true;
  });
}

bool is_host(std::string_view s) {
  for (char c : s) {
    if (!has(c, host_char)) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool parse_content_length(std::string_view value, std::uint64_t& out) {
  bool first = true;
  std::uint64_t seen = 0;
  const bool ok = for_each_element(value, [&](std::string_view element) {
    std::uint64_t v = 0;
    if (!parse_decimal(element, v) || (!first && v != seen)) {
      return false;
    }
    seen = v;
    first = false;
    return true;
  });
  if (ok) {
    out = seen;
  }
  return ok;
}

parse_error note_field(header& h, bool is_request, field_facts& facts) {
  h.id = identify_field(h.name);
  switch (h.id) {
    case field_id::host:
      if (is_request) {
        if (!is_host(h.value)) {
          return parse_error::bad_header;
        }
        ++facts.host_count;
        facts.host = h.value;
      }
      break;
    case field_id::expect:
      if (iequals(h.value, "100-continue")) {
        facts.expect_continue = true;
      }
      break;
    case field_id::upgrade:
      facts.has_upgrade = true;
      break;
    case field_id::connection:
      note_connection(h.value, facts);
      break;
    case field_id::content_length: {
      std::uint64_t v = 0;
      if (!parse_content_length(h.value, v) ||
          (facts.has_content_length && v != facts.content_length)) {
        return parse_error::bad_content_length;
      }
      facts.has_content_length = true;
      facts.content_length = v;
      break;
    }
    case field_id::transfer_encoding:
      return note_transfer_encoding(h.value, facts);
    default:
      break;
  }
  return parse_error::none;
}

}  // namespace cohort::http::detail
