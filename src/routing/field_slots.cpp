#include "routing/field_slots.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "routing/ascii.hpp"
#include "routing/request_fields.hpp"

namespace cohort::routing {

namespace {

constexpr bool is_letter(char c) {
  return c >= 'a' && c <= 'z';
}

slot_index add_name(std::vector<std::string>& names, std::string_view name, std::size_t capacity) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) {
      return static_cast<slot_index>(i);
    }
  }
  if (names.size() == capacity) {
    return no_slot;
  }
  names.emplace_back(name);
  return static_cast<slot_index>(names.size() - 1);
}

slot_index find_name(const std::vector<std::string>& names, std::string_view name) {
  // Lengths first, then the bytes in a loop: names are a few bytes, and
  // memcmp's call costs more than comparing them.
  const std::size_t n = name.size();
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i].size() != n) {
      continue;
    }
    const char* a = names[i].data();
    std::size_t k = 0;
    while (k < n && a[k] == name[k]) {
      ++k;
    }
    if (k == n) {
      return static_cast<slot_index>(i);
    }
  }
  return no_slot;
}

}  // namespace

field_catalog::wanted_name::wanted_name(std::string_view name) : lower_(to_lower_copy(name)) {
  // `width` bytes from `at` as a load of that width sees them on this machine's byte order.
  const auto word_at = [&](std::size_t at, std::size_t width, std::uint64_t& word,
                           std::uint64_t& mask) {
    char bytes[8] = {};
    char masks[8] = {};
    for (std::size_t k = 0; k < width; ++k) {
      const char c = lower_[at + k];
      bytes[k] = c;
      masks[k] = is_letter(c) ? 0x20 : 0;
    }
    if (width == 8) {
      std::memcpy(&word, bytes, 8);
      std::memcpy(&mask, masks, 8);
    } else {
      std::uint32_t w = 0;
      std::uint32_t m = 0;
      std::memcpy(&w, bytes, 4);
      std::memcpy(&m, masks, 4);
      word = w;
      mask = m;
    }
  };
  const std::size_t n = lower_.size();
  if (n >= 8) {
    word_at(0, 8, first_word_, first_mask_);
    for (std::size_t i = 8; i + 8 < n; i += 8) {
      std::uint64_t w = 0;
      std::uint64_t m = 0;
      word_at(i, 8, w, m);
      word_.push_back(w);
      mask_.push_back(m);
    }
    word_at(n - 8, 8, last_word_, last_mask_);
  } else if (n >= 4) {
    word_at(0, 4, first_word_, first_mask_);
    word_at(n - 4, 4, last_word_, last_mask_);
  }
}

field_catalog::field_catalog() {
  header_index_.fill(no_slot);
  next_.fill(no_slot);
}

slot_index field_catalog::add_header(std::string_view name) {
  if (iequals(name, "cookie")) {
    cookie_read_as_header_ = true;
  }
  return add_header_slot(name);
}

slot_index field_catalog::add_header_slot(std::string_view name) {
  const std::string lower = to_lower_copy(name);
  for (std::size_t i = 0; i < headers_.size(); ++i) {
    if (headers_[i].lower() == lower) {
      return static_cast<slot_index>(i);
    }
  }
  if (headers_.size() == max_header_slots) {
    return no_slot;
  }
  const auto slot = static_cast<slot_index>(headers_.size());
  headers_.emplace_back(lower);
  const std::size_t at = index_of(lower);
  next_[static_cast<std::size_t>(slot)] = header_index_[at];
  header_index_[at] = static_cast<std::int8_t>(slot);
  return slot;
}

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

// The first byte in [p, end) equal to a or b, or end; eight bytes per step.
// A zero byte of w ^ (a in every byte) is a byte equal to a; in
// (x - 0x01..) & ~x & 0x80.. the lowest set bit is exactly the first zero byte
// (a borrow can only mark bytes above it), and the lowest byte is the first in
// memory on a little-endian machine.
// Short spans (most cookie names and values) take the byte loop: setting up
// the words costs more than it saves there.
inline const char* find_either(const char* p, const char* end, char a, char b) {
  if (std::endian::native == std::endian::little && end - p >= 16) {
    constexpr std::uint64_t ones = 0x0101010101010101u;
    constexpr std::uint64_t highs = 0x8080808080808080u;
    const std::uint64_t wa = ones * static_cast<unsigned char>(a);
    const std::uint64_t wb = ones * static_cast<unsigned char>(b);
    while (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, sizeof w);
      const std::uint64_t xa = w ^ wa;
      const std::uint64_t xb = w ^ wb;
      const std::uint64_t hits = ((xa - ones) & ~xa & highs) | ((xb - ones) & ~xb & highs);
      if (hits != 0) {
        return p + (std::countr_zero(hits) >> 3);
      }
      p += 8;
    }
  }
  while (p < end && *p != a && *p != b) {
    ++p;
  }
  return p;
}

}  // namespace

slot_index field_catalog::add_cookie(std::string_view name) {
  if (cookie_header_ == no_slot) {
    // read_headers then finds the Cookie header(s) on its way.
    cookie_header_ = add_header_slot("cookie");
  }
  const slot_index slot = add_name(cookies_, name, max_cookie_slots);
  if (slot != no_slot) {
    cookie_lengths_ |= length_bit(name.size());
  }
  return slot;
}

slot_index field_catalog::add_query(std::string_view name) {
  const slot_index slot = add_name(query_, name, max_query_slots);
  if (slot != no_slot) {
    query_lengths_ |= length_bit(name.size());
  }
  return slot;
}

slot_index field_catalog::cookie_slot(std::string_view name) const {
  if ((cookie_lengths_ & length_bit(name.size())) == 0) {
    return no_slot;  // most cookies a request carries are rejected by their length alone
  }
  return find_name(cookies_, name);
}

slot_index field_catalog::query_slot(std::string_view name) const {
  if ((query_lengths_ & length_bit(name.size())) == 0) {
    return no_slot;
  }
  return find_name(query_, name);
}

void field_values::read_headers() {
  headers_read_ = true;
  if (catalog_ == nullptr || catalog_->header_count() == 0) {
    return;
  }
  const field_catalog& catalog = *catalog_;
  const slot_index cookie = catalog.cookie_header_slot();
  // Stop once every wanted header is found, not waiting for the Cookie header:
  // it may not be needed at all (read_cookies scans for it when we stopped).
  std::uint32_t all = static_cast<std::uint32_t>((std::uint64_t{1} << catalog.header_count()) - 1);
  if (cookie != no_slot && !catalog.cookie_read_as_header()) {
    all &= ~(std::uint32_t{1} << cookie);
  }
  // Locals, not members, in the loop: the compiler keeps them in registers
  // instead of storing them through `this` on every header.
  std::uint32_t present = 0;
  std::uint32_t cookies = 0;
  const header_field* h = request_.headers.data();
  const header_field* const end = h + request_.headers.size();
  for (; h != end; ++h) {
    const slot_index slot = catalog.header_slot(h->name);
    if (slot == no_slot) {
      continue;
    }
    cookies += slot == cookie ? 1 : 0;
    const std::uint32_t bit = std::uint32_t{1} << slot;
    if ((present & bit) == 0) {  // the first one counts, as in find_header
      present |= bit;
      headers_[slot] = {h->value.data(), h->value.size()};
      if ((present & all) == all && all != 0) {
        break;  // later headers can only repeat one already read
      }
    }
  }
  headers_present_ = present;
  cookie_headers_ = cookies;
  all_headers_read_ = h == end;
}

// The same pairs as for_each_cookie, in one pass that looks at a value's bytes
// only to find its end, and at a name only when a wanted name has its length.
bool field_values::read_cookie_line(std::string_view line, std::uint16_t all) {
  const char* p = line.data();
  const char* const end = p + line.size();
  while (p < end) {
    while (p < end && is_blank(*p)) {
      ++p;
    }
    const char* const name = p;
    p = find_either(p, end, '=', ';');
    if (p == end) {
      return false;  // a last pair without '='
    }
    if (*p == ';') {
      ++p;  // a pair without '=': skipped
      continue;
    }
    const char* name_end = p;
    while (name_end > name && is_blank(name_end[-1])) {
      --name_end;
    }
    const char* value = p + 1;
    const char* value_end = find_either(value, end, ';', ';');
    p = value_end == end ? end : value_end + 1;
    const slot_index slot =
        catalog_->cookie_slot(std::string_view(name, static_cast<std::size_t>(name_end - name)));
    if (slot == no_slot) {
      continue;
    }
    const auto bit = static_cast<std::uint16_t>(1u << slot);
    if ((cookies_present_ & bit) != 0) {
      continue;  // the first occurrence counts
    }
    while (value < value_end && is_blank(*value)) {
      ++value;
    }
    while (value_end > value && is_blank(value_end[-1])) {
      --value_end;
    }
    if (value_end - value >= 2 && *value == '"' && value_end[-1] == '"') {
      ++value;
      --value_end;
    }
    cookies_present_ |= bit;
    cookies_[slot] = {value, static_cast<std::size_t>(value_end - value)};
    if (cookies_present_ == all) {
      return true;
    }
  }
  return false;
}

void field_values::read_cookies() {
  cookies_read_ = true;
  if (catalog_ == nullptr || catalog_->cookie_count() == 0) {
    return;
  }
  const auto all = static_cast<std::uint16_t>((1u << catalog_->cookie_count()) - 1);
  const slot_index cookie = catalog_->cookie_header_slot();
  if (cookie != no_slot) {
    if (!headers_read_) {
      read_headers();
    }
    if (all_headers_read_ && cookie_headers_ <= 1) {
      // The common case: one Cookie header at most, found by read_headers.
      if (cookie_headers_ == 1) {
        read_cookie_line(std::string_view(headers_[cookie].data, headers_[cookie].size), all);
      }
      return;
    }
  }
  for (const header_field& h : request_.headers) {
    if (iequals(h.name, "cookie") && read_cookie_line(h.value, all)) {
      return;
    }
  }
}

void field_values::read_query() {
  query_read_ = true;
  if (catalog_ == nullptr || catalog_->query_count() == 0) {
    return;
  }
  const auto all = static_cast<std::uint16_t>((1u << catalog_->query_count()) - 1);
  // The same pairs as for_each_query_param: split on '&', then on the first '='.
  const char* p = request_.query.data();
  const char* const end = p + request_.query.size();
  while (p < end) {
    const char* const name = p;
    p = find_either(p, end, '=', '&');
    const char* const name_end = p;
    const char* value = p;
    const char* value_end = p;
    if (p < end && *p == '=') {
      value = p + 1;
      value_end = find_either(value, end, '&', '&');
    }
    p = value_end < end ? value_end + 1 : end;
    const slot_index slot =
        catalog_->query_slot(std::string_view(name, static_cast<std::size_t>(name_end - name)));
    if (slot == no_slot) {
      continue;
    }
    const auto bit = static_cast<std::uint16_t>(1u << slot);
    if ((query_present_ & bit) == 0) {
      query_present_ |= bit;
      query_[slot] = {value, static_cast<std::size_t>(value_end - value)};
      if (query_present_ == all) {
        return;
      }
    }
  }
}

std::optional<std::string_view> field_values::cookie(slot_index slot, std::string_view name) {
  if (slot == no_slot || catalog_ == nullptr) {
    return find_cookie(request_, name);
  }
  return cookie_at(slot);
}

std::optional<std::string_view> field_values::query(slot_index slot, std::string_view name) {
  if (slot == no_slot || catalog_ == nullptr) {
    return find_query_param(request_.query, name);
  }
  return query_at(slot);
}

std::optional<semver> field_values::header_semver(slot_index slot, std::string_view value) {
  if (slot == no_slot || catalog_ == nullptr) {
    return parse_semver(value);
  }
  const std::uint32_t bit = std::uint32_t{1} << slot;
  if ((semver_parsed_ & bit) == 0) {
    semver_parsed_ |= bit;
    if (const auto v = parse_semver(value)) {
      semver_valid_ |= bit;
      semvers_[slot] = {v->major, v->minor, v->patch};
    }
  }
  if ((semver_valid_ & bit) == 0) {
    return std::nullopt;
  }
  const version& v = semvers_[slot];
  return semver{v.major, v.minor, v.patch};
}

}  // namespace cohort::routing
