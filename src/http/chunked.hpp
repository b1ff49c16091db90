#pragma once
// Chunked transfer coding (RFC 9112 section 7.1), decoded incrementally with
// bounded memory: the decoder keeps no bytes; the caller keeps what it has not
// consumed yet and calls again when more has arrived.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/header_field.hpp"

namespace cohort::http {

class chunked_decoder {
 public:
  struct limits {
    std::size_t max_chunk_line = 4096;  // size line with extensions
    std::size_t max_trailer_bytes = 65536;
  };

  struct step {
    std::size_t consumed = 0;  // bytes of input used by this call (framing and data)
    std::string_view data;     // body bytes found by this call (a view into input); may be empty
    bool done = false;         // the last chunk and the trailers have been read
    bool error = false;        // malformed: invalid size (non-hex, empty, overflow, sign,
                               // "0x"), missing CRLF after data, bare CR/LF, bad trailer
    bool need_more = false;    // nothing more can be done with this input
  };

  chunked_decoder() = default;
  explicit chunked_decoder(limits l) : limits_(l) {}

  // Decodes from input. Returns at most one contiguous span of body data per call;
  // call again with input.substr(consumed) until need_more, done or error.
  step decode(std::string_view input);

  // The trailer fields after the last chunk, raw ("Name: value\r\n" lines, each
  // validated like a header line), without the final CRLF. Valid once done.
  const std::string& trailers() const { return trailers_; }

  void reset();

 private:
  enum class state : std::uint8_t { size_line, data, data_crlf, trailers, done, error };
  limits limits_{};
  state state_ = state::size_line;
  std::uint64_t remaining_ = 0;  // data bytes left in the current chunk
  std::string trailers_;
};

// Appends the chunk framing for data ("<hex>\r\n<data>\r\n"). Empty data writes nothing.
void append_chunk(std::string& out, std::string_view data);
// Appends the size line of a chunk of n bytes ("<hex>\r\n"); the caller sends the data and "\r\n".
void append_chunk_header(std::string& out, std::size_t n);
// Appends the last chunk, the raw trailers (as from trailers()) and the final CRLF.
void append_last_chunk(std::string& out, std::string_view raw_trailers);

// Calls fn(name, value) for each field of a raw trailer block, as trailers()
// holds it and upstream exchanges hand it on ("name: value\r\n..."): lines end
// with CRLF or LF, OWS around name and value is dropped, lines without a name
// are skipped.
template <class Fn>
void for_each_trailer(std::string_view lines, Fn&& fn) {
  while (!lines.empty()) {
    const std::size_t eol = lines.find('\n');
    std::string_view line = lines.substr(0, eol);
    lines.remove_prefix(eol == std::string_view::npos ? lines.size() : eol + 1);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      continue;
    }
    const std::string_view name = trim_ows(line.substr(0, colon));
    if (!name.empty()) {
      // trim_ows leaves a CR; the value's end is trimmed of it explicitly.
      std::string_view value = line.substr(colon + 1);
      if (!value.empty() && value.back() == '\r') {
        value.remove_suffix(1);
      }
      fn(name, trim_ows(value));
    }
  }
}

}  // namespace cohort::http
