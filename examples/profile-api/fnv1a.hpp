#pragma once
// FNV-1a 64: a cheap streaming checksum that tests can recompute in a few
// lines of Python to check what a proxy forwarded, byte for byte.

#include <cstdint>
#include <string>
#include <string_view>

namespace cohort::profile_api {

class fnv1a64 {
 public:
  void update(const void* data, std::size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    std::uint64_t h = hash_;
    for (std::size_t i = 0; i < size; ++i) {
      h ^= p[i];
      h *= prime;
    }
    hash_ = h;
  }
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::uint64_t value() const { return hash_; }

  // 16 lowercase hex digits, zero-padded.
  std::string hex() const {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(16, '0');
    std::uint64_t v = hash_;
    for (int i = 15; i >= 0; --i) {
      out[static_cast<std::size_t>(i)] = digits[v & 0xf];
      v >>= 4;
    }
    return out;
  }

 private:
  static constexpr std::uint64_t offset_basis = 0xcbf29ce484222325ULL;
  static constexpr std::uint64_t prime = 0x100000001b3ULL;
  std::uint64_t hash_ = offset_basis;
};

}  // namespace cohort::profile_api
