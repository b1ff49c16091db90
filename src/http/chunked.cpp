// A step that returns data may also say need_more (the input ended inside or
// right after the data); it never says done or error: those come from the next
// call. Trailers named Content-Length, Transfer-Encoding or Host are refused so
// a recipient that merges trailers cannot be tricked into reframing.
#include "http/chunked.hpp"

#include <algorithm>
#include <charconv>

#include "http/char_class.hpp"
#include "http/field_line.hpp"
#include "http/message.hpp"

namespace cohort::http {

namespace {

using detail::has;
using detail::line_status;

constexpr std::size_t max_size_digits = 16;  // 64 bits; more is refused, even leading zeros

// chunk-size [ chunk-ext ] CRLF (RFC 9112 7.1.1), within at most max_line bytes.
// No whitespace is accepted anywhere in the line: the BWS the RFC tolerates
// around ';' and '=' is refused, as are signs, "0x" and more than 16 digits.
line_status parse_size_line(const char* p, const char* end, std::size_t max_line,
                            std::uint64_t& size, const char*& next) {
  const bool capped = static_cast<std::size_t>(end - p) > max_line;
  const char* const limit = capped ? p + max_line : end;
  const char* const begin = p;
  std::uint64_t v = 0;
  while (p < limit && has(*p, detail::hex_digit)) {
    if (static_cast<std::size_t>(p - begin) == max_size_digits) {
      return line_status::bad;
    }
    v = (v << 4) | detail::hex_value(*p);
    ++p;
  }
  if (p == begin && p < limit) {
    return line_status::bad;
  }
  // Extensions: *( ";" name [ "=" ( token / quoted-string ) ] ), skipped.
  enum class ext : std::uint8_t { after_size, name, equals, token, quoted, escape, after_quoted };
  ext st = ext::after_size;
  const char* mark = p;  // where the current name or token value began
  for (; p < limit; ++p) {
    const char c = *p;
    if (c == '\r') {
      const bool can_end = st == ext::after_size || st == ext::after_quoted ||
                           ((st == ext::name || st == ext::token) && p > mark);
      if (!can_end) {
        return line_status::bad;  // empty name or value, or CR inside a quoted string
      }
      if (p + 1 == limit) {
        break;  // wait for the LF, or refuse below if the line is too long
      }
      if (p[1] != '\n') {
        return line_status::bad;
      }
      size = v;
      next = p + 2;
      return line_status::complete;
    }
    switch (st) {
      case ext::after_size:
      case ext::after_quoted:
        if (c != ';') {
          return line_status::bad;
        }
        st = ext::name;
        mark = p + 1;
        break;
      case ext::name:
      case ext::token:
        if (c == ';' && p > mark) {
          st = ext::name;
          mark = p + 1;
        } else if (c == '=' && st == ext::name && p > mark) {
          st = ext::equals;
        } else if (!has(c, detail::tchar)) {
          return line_status::bad;
        }
        break;
      case ext::equals:
        if (c == '"') {
          st = ext::quoted;
        } else if (has(c, detail::tchar)) {
          st = ext::token;
          mark = p;
        } else {
          return line_status::bad;
        }
        break;
      case ext::quoted:
        if (c == '"') {
          st = ext::after_quoted;
        } else if (c == '\\') {
          st = ext::escape;
        } else if (!has(c, detail::field_char)) {
          return line_status::bad;
        }
        break;
      case ext::escape:
        if (!has(c, detail::field_char)) {
          return line_status::bad;
        }
        st = ext::quoted;
        break;
    }
  }
  return capped ? line_status::bad : line_status::incomplete;
}

// Refuses trailer fields that would change framing or routing if a recipient
// merged them into the head.
bool forbidden_trailer(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "host");
}

void append_hex(std::string& out, std::uint64_t n) {
  char buf[16];
  const auto r = std::to_chars(buf, buf + sizeof buf, n, 16);
  out.append(buf, r.ptr);
}

}  // namespace

chunked_decoder::step chunked_decoder::decode(std::string_view input) {
  step s;
  const char* const begin = input.data();
  const char* const end = begin + input.size();
  const char* p = begin;
  auto finish = [&](bool need_more) {
    s.consumed = static_cast<std::size_t>(p - begin);
    s.need_more = need_more;
    return s;
  };
  auto fail = [&] {
    state_ = state::error;
    s.error = true;
    return finish(false);
  };

  for (;;) {
    switch (state_) {
      case state::size_line: {
        const char* next = nullptr;
        switch (parse_size_line(p, end, limits_.max_chunk_line, remaining_, next)) {
          case line_status::bad:
            return fail();
          case line_status::incomplete:
            return finish(true);
          case line_status::complete:
            break;
        }
        p = next;
        state_ = remaining_ == 0 ? state::trailers : state::data;
        break;
      }
      case state::data: {
        if (p == end) {
          return finish(true);
        }
        const auto n = static_cast<std::size_t>(
            std::min<std::uint64_t>(remaining_, static_cast<std::uint64_t>(end - p)));
        s.data = std::string_view(p, n);
        p += n;
        remaining_ -= n;
        if (remaining_ == 0) {
          state_ = state::data_crlf;
        }
        // One data span per call: the caller handles it, then calls again.
        return finish(p == end);
      }
      case state::data_crlf:
        if (p == end) {
          return finish(true);
        }
        if (*p != '\r') {
          return fail();
        }
        if (p + 1 == end) {
          return finish(true);
        }
        if (p[1] != '\n') {
          return fail();
        }
        p += 2;
        state_ = state::size_line;
        break;
      case state::trailers: {
        if (p == end) {
          return finish(true);
        }
        if (*p == '\r') {
          if (p + 1 == end) {
            return finish(true);
          }
          if (p[1] != '\n') {
            return fail();
          }
          p += 2;
          state_ = state::done;
          s.done = true;
          return finish(false);
        }
        const std::size_t budget = limits_.max_trailer_bytes - trailers_.size();
        const bool capped = static_cast<std::size_t>(end - p) > budget;
        detail::field_line line;
        switch (detail::scan_field_line(p, capped ? p + budget : end, line)) {
          case line_status::bad:
            return fail();
          case line_status::incomplete:
            if (capped) {
              return fail();
            }
            return finish(true);
          case line_status::complete:
            break;
        }
        if (forbidden_trailer(line.name)) {
          return fail();
        }
        trailers_.append(p, line.next);
        p = line.next;
        break;
      }
      case state::done:
        s.done = true;
        return finish(false);
      case state::error:
        s.error = true;
        return finish(false);
    }
  }
}

void chunked_decoder::reset() {
  state_ = state::size_line;
  remaining_ = 0;
  trailers_.clear();
}

void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) {
    return;
  }
  append_chunk_header(out, data.size());
  out.append(data);
  out.append("\r\n");
}

void append_chunk_header(std::string& out, std::size_t n) {
  append_hex(out, n);
  out.append("\r\n");
}

void append_last_chunk(std::string& out, std::string_view raw_trailers) {
  out.append("0\r\n");
  out.append(raw_trailers);
  out.append("\r\n");
}

}  // namespace cohort::http
