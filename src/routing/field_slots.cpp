#include "routing/field_slots.hpp"

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
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) {
      return static_cast<slot_index>(i);
    }
  }
  return no_slot;
}

}  // namespace

field_catalog::wanted_name::wanted_name(std::string_view name) : lower_(to_lower_copy(name)) {
  const auto word_at = [&](std::size_t at, std::uint64_t& word, std::uint64_t& mask) {
    word = 0;
    mask = 0;
    for (std::size_t k = 0; k < 8 && at + k < lower_.size(); ++k) {
      const char c = lower_[at + k];
      // Byte k of the word as memcpy loads it on this machine's byte order.
      char bytes[8] = {};
      char masks[8] = {};
      std::memcpy(bytes, &word, 8);
      std::memcpy(masks, &mask, 8);
      bytes[k] = c;
      masks[k] = is_letter(c) ? 0x20 : 0;
      std::memcpy(&word, bytes, 8);
      std::memcpy(&mask, masks, 8);
    }
  };
  if (lower_.size() >= 8) {
    for (std::size_t i = 0; i + 8 < lower_.size(); i += 8) {
      std::uint64_t w = 0;
      std::uint64_t m = 0;
      word_at(i, w, m);
      word_.push_back(w);
      mask_.push_back(m);
    }
    word_at(lower_.size() - 8, last_word_, last_mask_);
  }
}

field_catalog::field_catalog() {
  header_table_.fill(no_slot);
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
  std::size_t b = bucket_of(lower);
  while (header_table_[b] != no_slot) {
    b = (b + 1) & (table_size - 1);
  }
  header_table_[b] = slot;
  return slot;
}

slot_index field_catalog::add_cookie(std::string_view name) {
  if (cookie_header_ == no_slot) {
    // read_headers then finds the Cookie header(s) on its way.
    cookie_header_ = add_header_slot("cookie");
  }
  return add_name(cookies_, name, max_cookie_slots);
}

slot_index field_catalog::add_query(std::string_view name) {
  return add_name(query_, name, max_query_slots);
}

slot_index field_catalog::cookie_slot(std::string_view name) const {
  return find_name(cookies_, name);
}

slot_index field_catalog::query_slot(std::string_view name) const {
  return find_name(query_, name);
}

void field_values::read_headers() {
  headers_read_ = true;
  if (catalog_ == nullptr || catalog_->header_count() == 0) {
    return;
  }
  const slot_index cookie = catalog_->cookie_header_slot();
  // Stop once every wanted header is found, not waiting for the Cookie header:
  // it may not be needed at all (read_cookies scans for it when we stopped).
  std::uint32_t all =
      static_cast<std::uint32_t>((std::uint64_t{1} << catalog_->header_count()) - 1);
  if (cookie != no_slot && !catalog_->cookie_read_as_header()) {
    all &= ~(std::uint32_t{1} << cookie);
  }
  for (const header_field& h : request_.headers) {
    const slot_index slot = catalog_->header_slot(h.name);
    if (slot == no_slot) {
      continue;
    }
    cookie_headers_ += slot == cookie ? 1 : 0;
    const std::uint32_t bit = std::uint32_t{1} << slot;
    if ((headers_present_ & bit) == 0) {  // the first one counts, as in find_header
      headers_present_ |= bit;
      headers_[slot] = {h.value.data(), h.value.size()};
      if ((headers_present_ & all) == all && all != 0) {
        return;  // later headers can only repeat one already read
      }
    }
  }
  all_headers_read_ = true;
}

void field_values::read_cookies() {
  cookies_read_ = true;
  if (catalog_ == nullptr || catalog_->cookie_count() == 0) {
    return;
  }
  const std::uint32_t all = (std::uint32_t{1} << catalog_->cookie_count()) - 1;
  const auto read = [&](std::string_view line) {
    for_each_cookie(line, [&](std::string_view name, std::string_view value) {
      const slot_index slot = catalog_->cookie_slot(name);
      if (slot != no_slot) {
        const auto bit = static_cast<std::uint16_t>(1u << slot);
        if ((cookies_present_ & bit) == 0) {
          cookies_present_ |= bit;
          cookies_[slot] = {value.data(), value.size()};
        }
      }
      return cookies_present_ == all;
    });
  };
  const slot_index cookie = catalog_->cookie_header_slot();
  if (cookie != no_slot) {
    if (!headers_read_) {
      read_headers();
    }
    if (all_headers_read_ && cookie_headers_ <= 1) {
      // The common case: one Cookie header at most, found by read_headers.
      if (cookie_headers_ == 1) {
        read(std::string_view(headers_[cookie].data, headers_[cookie].size));
      }
      return;
    }
  }
  for (const header_field& h : request_.headers) {
    if (iequals(h.name, "cookie")) {
      read(h.value);
      if (cookies_present_ == all) {
        return;
      }
    }
  }
}

void field_values::read_query() {
  query_read_ = true;
  if (catalog_ == nullptr || catalog_->query_count() == 0) {
    return;
  }
  const std::uint32_t all = (std::uint32_t{1} << catalog_->query_count()) - 1;
  for_each_query_param(request_.query, [&](std::string_view name, std::string_view value) {
    const slot_index slot = catalog_->query_slot(name);
    if (slot != no_slot) {
      const auto bit = static_cast<std::uint16_t>(1u << slot);
      if ((query_present_ & bit) == 0) {
        query_present_ |= bit;
        query_[slot] = {value.data(), value.size()};
      }
    }
    return query_present_ == all;
  });
}

std::optional<std::string_view> field_values::cookie(slot_index slot, std::string_view name) {
  if (slot == no_slot || catalog_ == nullptr) {
    return find_cookie(request_, name);
  }
  if (!cookies_read_) {
    read_cookies();
  }
  if ((cookies_present_ & (1u << slot)) == 0) {
    return std::nullopt;
  }
  return std::string_view(cookies_[slot].data, cookies_[slot].size);
}

std::optional<std::string_view> field_values::query(slot_index slot, std::string_view name) {
  if (slot == no_slot || catalog_ == nullptr) {
    return find_query_param(request_.query, name);
  }
  if (!query_read_) {
    read_query();
  }
  if ((query_present_ & (1u << slot)) == 0) {
    return std::nullopt;
  }
  return std::string_view(query_[slot].data, query_[slot].size);
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
