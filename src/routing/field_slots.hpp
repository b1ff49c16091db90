#pragma once
// Request fields by number. The header, cookie and query names that a
// snapshot's matchers and key sources read are numbered (slots) when the
// snapshot is built; a decision then reads the request's headers once, its
// cookies once and its query once into a small table on the stack, instead of
// scanning the headers again for every matcher. Names beyond the table's
// capacity get no slot and are looked up directly, as before.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "routing/ascii.hpp"
#include "routing/request_fields.hpp"
#include "routing/request_view.hpp"
#include "routing/semver.hpp"

namespace cohort::routing {

using slot_index = std::int16_t;
inline constexpr slot_index no_slot = -1;
inline constexpr std::size_t max_header_slots = 32;
static_assert(max_header_slots <= 127, "header slots are indexed by int8_t");
inline constexpr std::size_t max_cookie_slots = 16;
inline constexpr std::size_t max_query_slots = 16;

// Built with the snapshot, read-only afterwards.
class field_catalog {
 public:
  field_catalog();

  // The slot of a name, added if new; no_slot when the table is full.
  slot_index add_header(std::string_view name);
  slot_index add_cookie(std::string_view name);
  slot_index add_query(std::string_view name);

  // The slot of a request's header name (any case), or no_slot. Inline: it
  // runs for every header of every request.
  slot_index header_slot(std::string_view name) const {
    for (slot_index slot = header_index_[index_of(name)]; slot != no_slot;
         slot = next_[static_cast<std::size_t>(slot)]) {
      if (headers_[static_cast<std::size_t>(slot)].matches(name)) {
        return slot;
      }
    }
    return no_slot;
  }
  slot_index cookie_slot(std::string_view name) const;
  slot_index query_slot(std::string_view name) const;
  std::size_t header_count() const { return headers_.size(); }
  // The slot of the Cookie header when a cookie is wanted, else no_slot.
  slot_index cookie_header_slot() const { return cookie_header_; }
  // Whether a matcher or key source also reads the Cookie header as a header.
  bool cookie_read_as_header() const { return cookie_read_as_header_; }
  std::size_t cookie_count() const { return cookies_.size(); }
  std::size_t query_count() const { return query_.size(); }

 private:
  // A direct index on the length and the case-folded last byte (the low five
  // bits of each: 'A' and 'a' agree), no hash: most request headers land on
  // an empty entry, the others on a chain of wanted names (nearly always one)
  // that are compared in full.
  static constexpr std::size_t index_size = 1024;
  static std::size_t index_of(std::string_view name) {
    const std::size_t n = name.size();
    const std::size_t last = n == 0 ? 0 : static_cast<unsigned char>(name[n - 1]);
    return ((n & 31) << 5) | (last & 31);
  }
  // A wanted header name, compared a word at a time: a byte of the request's
  // name or'ed with the mask must equal the lower-case byte. The mask sets
  // bit 5 only where the name has a letter, so 'A' and 'a' match 'a' and
  // nothing else does. Names of 4 to 16 bytes (nearly all) take two loads
  // that may overlap: the first and the last 4 or 8 bytes.
  class wanted_name {
   public:
    explicit wanted_name(std::string_view name);
    const std::string& lower() const { return lower_; }
    bool matches(std::string_view name) const {
      const std::size_t n = name.size();
      if (n != lower_.size()) {
        return false;
      }
      const char* p = name.data();
      if (n >= 8) {
        if ((load8(p) | first_mask_) != first_word_) {
          return false;
        }
        for (std::size_t i = 8; i + 8 < n; i += 8) {
          if ((load8(p + i) | mask_[i / 8 - 1]) != word_[i / 8 - 1]) {
            return false;
          }
        }
        return (load8(p + n - 8) | last_mask_) == last_word_;
      }
      if (n >= 4) {
        return (load4(p) | first_mask_) == first_word_ &&
               (load4(p + n - 4) | last_mask_) == last_word_;
      }
      for (std::size_t i = 0; i < n; ++i) {
        if (ascii_lower(p[i]) != lower_[i]) {
          return false;
        }
      }
      return true;
    }

   private:
    static std::uint64_t load8(const char* p) {
      std::uint64_t w;
      std::memcpy(&w, p, sizeof w);
      return w;
    }
    static std::uint64_t load4(const char* p) {
      std::uint32_t w;
      std::memcpy(&w, p, sizeof w);
      return w;
    }
    std::string lower_;
    std::uint64_t first_word_ = 0;  // the first 8 (or 4) bytes
    std::uint64_t first_mask_ = 0;
    std::uint64_t last_word_ = 0;  // the last 8 (or 4), overlapping the others when n % 8 != 0
    std::uint64_t last_mask_ = 0;
    std::vector<std::uint64_t> word_;  // names over 16 bytes: each 8 bytes between
    std::vector<std::uint64_t> mask_;
  };

  std::vector<wanted_name> headers_;  // by slot
  std::vector<std::string> cookies_;
  std::vector<std::string> query_;
  std::array<std::int8_t, index_size> header_index_;  // the first slot of a chain, or no_slot
  std::array<std::int8_t, max_header_slots> next_;    // by slot: the next slot in its chain
  slot_index add_header_slot(std::string_view name);
  slot_index cookie_header_ = no_slot;
  bool cookie_read_as_header_ = false;
  // Bit n: a wanted name has n bytes (bit 63: 63 or more).
  static std::uint64_t length_bit(std::size_t n) { return std::uint64_t{1} << (n < 63 ? n : 63); }
  std::uint64_t cookie_lengths_ = 0;
  std::uint64_t query_lengths_ = 0;
};

// One decision's view of the request by slot. Each part of the request is read
// on first use, so a decision that needs no cookie never parses them.
class field_values {
 public:
  // A null catalog (or a no_slot field) looks values up directly.
  field_values(const request_view& request, const field_catalog* catalog)
      : request_(request), catalog_(catalog) {}

  const request_view& request() const { return request_; }
  std::optional<std::string_view> header(slot_index slot, std::string_view name) {
    if (slot == no_slot || catalog_ == nullptr) {
      return find_header(request_, name);
    }
    return header_at(slot);
  }
  std::optional<std::string_view> cookie(slot_index slot, std::string_view name);
  std::optional<std::string_view> query(slot_index slot, std::string_view name);

  // By a slot of the catalog this table was made with (never no_slot, never
  // without a catalog): what a cohort plan reads, inline.
  std::optional<std::string_view> header_at(slot_index slot) {
    if (!headers_read_) {
      read_headers();
    }
    if ((headers_present_ & (std::uint32_t{1} << slot)) == 0) {
      return std::nullopt;
    }
    return std::string_view(headers_[slot].data, headers_[slot].size);
  }
  std::optional<std::string_view> cookie_at(slot_index slot) {
    if (!cookies_read_) {
      read_cookies();
    }
    if ((cookies_present_ & (1u << slot)) == 0) {
      return std::nullopt;
    }
    return std::string_view(cookies_[slot].data, cookies_[slot].size);
  }
  std::optional<std::string_view> query_at(slot_index slot) {
    if (!query_read_) {
      read_query();
    }
    if ((query_present_ & (1u << slot)) == 0) {
      return std::nullopt;
    }
    return std::string_view(query_[slot].data, query_[slot].size);
  }
  // The header's value parsed as a version, parsed once per decision.
  std::optional<semver> header_semver(slot_index slot, std::string_view value);

 private:
  // Plain members, left uninitialised: the present bits say which are valid,
  // and a decision should not pay for clearing the whole table.
  struct view {
    const char* data;
    std::size_t size;
  };
  struct version {
    std::uint32_t major;
    std::uint32_t minor;
    std::uint32_t patch;
  };
  void read_headers();
  void read_cookies();
  // True when every wanted cookie is found.
  bool read_cookie_line(std::string_view line, std::uint16_t all);
  void read_query();

  const request_view& request_;
  const field_catalog* catalog_;
  bool headers_read_ = false;
  bool cookies_read_ = false;
  bool query_read_ = false;
  bool all_headers_read_ = false;  // read_headers did not stop early
  std::uint32_t cookie_headers_ = 0;
  // Bit i: slot i has a value (the arrays below are valid only there).
  std::uint32_t headers_present_ = 0;
  std::uint16_t cookies_present_ = 0;
  std::uint16_t query_present_ = 0;
  std::uint32_t semver_parsed_ = 0;
  std::uint32_t semver_valid_ = 0;
  view headers_[max_header_slots];
  view cookies_[max_cookie_slots];
  view query_[max_query_slots];
  version semvers_[max_header_slots];
};

}  // namespace cohort::routing
