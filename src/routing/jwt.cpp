#include "routing/jwt.hpp"

#include <cstdint>

#include "routing/ascii.hpp"

namespace cohort::routing {

namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '-' || c == '+') {
    return 62;
  }
  if (c == '_' || c == '/') {
    return 63;
  }
  return -1;
}

// A cursor over a JSON text that it may rewrite in place (unescaping strings
// never makes them longer).
class json_cursor {
 public:
  json_cursor(char* text, std::size_t len) : text_(text), len_(len) {}

  void skip_ws() {
    while (pos_ < len_ && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                           text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool at(char c) const { return pos_ < len_ && text_[pos_] == c; }
  bool eat(char c) {
    if (at(c)) {
      ++pos_;
      return true;
    }
    return false;
  }

  // At an opening quote: the unescaped string.
  std::optional<std::string_view> string() {
    if (!eat('"')) {
      return std::nullopt;
    }
    const std::size_t start = pos_;
    std::size_t out = pos_;
    while (pos_ < len_) {
      const char c = text_[pos_++];
      if (c == '"') {
        return std::string_view{text_ + start, out - start};
      }
      if (c != '\\') {
        text_[out++] = c;
        continue;
      }
      if (pos_ >= len_) {
        return std::nullopt;
      }
      const char e = text_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          text_[out++] = e;
          break;
        case 'b':
          text_[out++] = '\b';
          break;
        case 'f':
          text_[out++] = '\f';
          break;
        case 'n':
          text_[out++] = '\n';
          break;
        case 'r':
          text_[out++] = '\r';
          break;
        case 't':
          text_[out++] = '\t';
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) {
            return std::nullopt;
          }
          if (cp >= 0xD800 && cp <= 0xDBFF && pos_ + 1 < len_ && text_[pos_] == '\\' &&
              text_[pos_ + 1] == 'u') {
            pos_ += 2;
            std::uint32_t low = 0;
            if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) {
              return std::nullopt;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          out = put_utf8(cp, out);
          break;
        }
        default:
          return std::nullopt;
      }
    }
    return std::nullopt;
  }

  // A number as written.
  std::optional<std::string_view> number() {
    const std::size_t start = pos_;
    while (pos_ < len_) {
      const char c = text_[pos_];
      if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
        ++pos_;
      } else {
        break;
      }
    }
    if (pos_ == start) {
      return std::nullopt;
    }
    return std::string_view{text_ + start, pos_ - start};
  }

  // Skips any value: strings, numbers, literals, nested objects and arrays.
  bool skip_value() {
    if (at('"')) {
      return string().has_value();
    }
    if (at('{') || at('[')) {
      int depth = 0;
      while (pos_ < len_) {
        if (at('"')) {
          if (!string()) {
            return false;
          }
          continue;
        }
        const char c = text_[pos_++];
        if (c == '{' || c == '[') {
          ++depth;
        } else if (c == '}' || c == ']') {
          if (--depth == 0) {
            return true;
          }
        }
      }
      return false;
    }
    const std::size_t start = pos_;
    while (pos_ < len_ && text_[pos_] != ',' && text_[pos_] != '}' && text_[pos_] != ' ' &&
           text_[pos_] != '\n' && text_[pos_] != '\t' && text_[pos_] != '\r') {
      ++pos_;
    }
    return pos_ > start;
  }

 private:
  bool hex4(std::uint32_t& out) {
    if (pos_ + 4 > len_) {
      return false;
    }
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      std::uint32_t d = 0;
      if (c >= '0' && c <= '9') {
        d = static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        d = static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        d = static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
      out = (out << 4) | d;
    }
    return true;
  }

  // The escape took at least 6 bytes and UTF-8 needs at most 4 (or 12 -> 4 for a
  // surrogate pair), so writing never overtakes reading.
  std::size_t put_utf8(std::uint32_t cp, std::size_t out) {
    if (cp < 0x80) {
      text_[out++] = static_cast<char>(cp);
    } else if (cp < 0x800) {
      text_[out++] = static_cast<char>(0xC0 | (cp >> 6));
      text_[out++] = static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      text_[out++] = static_cast<char>(0xE0 | (cp >> 12));
      text_[out++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      text_[out++] = static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      text_[out++] = static_cast<char>(0xF0 | (cp >> 18));
      text_[out++] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      text_[out++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      text_[out++] = static_cast<char>(0x80 | (cp & 0x3F));
    }
    return out;
  }

  char* text_;
  std::size_t len_;
  std::size_t pos_ = 0;
};

}  // namespace

std::optional<std::size_t> base64url_decode(std::string_view in, char* out) {
  while (!in.empty() && in.back() == '=') {
    in.remove_suffix(1);
  }
  if (in.size() % 4 == 1) {
    return std::nullopt;  // no encoder leaves a single trailing character
  }
  std::size_t n = 0;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    const int v = base64_value(c);
    if (v < 0) {
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return n;
}

std::optional<std::string_view> json_top_level_claim(char* json, std::size_t len,
                                                     std::string_view claim) {
  json_cursor cur(json, len);
  cur.skip_ws();
  if (!cur.eat('{')) {
    return std::nullopt;
  }
  cur.skip_ws();
  if (cur.eat('}')) {
    return std::nullopt;
  }
  while (true) {
    cur.skip_ws();
    const auto key = cur.string();
    if (!key) {
      return std::nullopt;
    }
    cur.skip_ws();
    if (!cur.eat(':')) {
      return std::nullopt;
    }
    cur.skip_ws();
    if (*key == claim) {
      if (cur.at('"')) {
        return cur.string();
      }
      return cur.number();  // true / false / null / objects are not user keys
    }
    if (!cur.skip_value()) {
      return std::nullopt;
    }
    cur.skip_ws();
    if (!cur.eat(',')) {
      return std::nullopt;  // '}' (claim absent) or malformed
    }
  }
}

std::optional<std::string_view> jwt_claim(std::string_view authorization, std::string_view claim,
                                          scratch_buffer& scratch) {
  authorization = trim_ows(authorization);
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() <= scheme.size() ||
      !iequals(authorization.substr(0, scheme.size()), scheme)) {
    return std::nullopt;
  }
  const std::string_view token = trim_ows(authorization.substr(scheme.size()));
  const std::size_t first_dot = token.find('.');
  if (first_dot == std::string_view::npos) {
    return std::nullopt;
  }
  const std::size_t second_dot = token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos) {
    return std::nullopt;
  }
  const std::string_view payload = token.substr(first_dot + 1, second_dot - first_dot - 1);
  char* buf = scratch.reserve(payload.size() * 3 / 4 + 3);
  const auto len = base64url_decode(payload, buf);
  if (!len) {
    return std::nullopt;
  }
  return json_top_level_claim(buf, *len, claim);
}

}  // namespace cohort::routing
