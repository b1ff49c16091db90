// libFuzzer target for the HTTP/1.1 codec. Besides crashes and sanitizer
// reports it checks invariants that a parser split across reads must keep:
// a complete head parses the same from its own bytes, a prefix is never
// "more complete" than the whole, and chunked decoding does not depend on how
// the input is split.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/chunked.hpp"
#include "http/parser.hpp"

namespace {

using namespace cohort::http;

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

void fuzz_request(std::string_view data) {
  parse_limits limits;
  limits.max_head_bytes = 4096;
  limits.max_headers = 32;
  request_head head;
  const parse_result r = parse_request_head(data, limits, head);
  check(r.consumed <= data.size());
  if (r.status == parse_status::complete) {
    check(r.consumed > 0 && r.consumed <= limits.max_head_bytes);
    request_head again;
    const parse_result r2 = parse_request_head(data.substr(0, r.consumed), limits, again);
    check(r2.status == parse_status::complete && r2.consumed == r.consumed);
    check(again.headers.size() == head.headers.size() && again.framing == head.framing);
    // One byte short of the head can never be complete.
    const parse_result r3 = parse_request_head(data.substr(0, r.consumed - 1), limits, again);
    check(r3.status != parse_status::complete);
  }
}

void fuzz_response(std::string_view data, bool head_request) {
  response_head head;
  const parse_result r = parse_response_head(data, {}, head_request, head);
  check(r.consumed <= data.size());
  if (r.status == parse_status::complete) {
    check(head.status >= 100 && head.status <= 599);
  }
}

struct decoded {
  std::string body;
  bool done = false;
  bool error = false;
};

decoded decode(std::string_view data, std::size_t piece) {
  chunked_decoder::limits limits;
  limits.max_chunk_line = 256;
  limits.max_trailer_bytes = 1024;
  chunked_decoder d(limits);
  decoded out;
  std::string buffer;
  for (std::size_t i = 0; i < data.size() && !out.done && !out.error; i += piece) {
    buffer.append(data.substr(i, piece));
    for (;;) {
      const chunked_decoder::step s = d.decode(buffer);
      check(s.consumed <= buffer.size());
      out.body.append(s.data);
      buffer.erase(0, s.consumed);
      out.done = s.done;
      out.error = s.error;
      if (s.done || s.error || s.need_more) {
        break;
      }
    }
  }
  return out;
}

void fuzz_chunked(std::string_view data) {
  const decoded whole = decode(data, data.size() + 1);
  const decoded bytes = decode(data, 1);
  check(whole.done == bytes.done && whole.error == bytes.error);
  if (whole.done) {
    check(whole.body == bytes.body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  // The first byte picks the target so one corpus covers all three.
  const std::string_view data(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  switch (bytes[0] % 4) {
    case 0:
      fuzz_request(data);
      break;
    case 1:
    case 2:
      fuzz_response(data, bytes[0] % 4 == 2);
      break;
    default:
      fuzz_chunked(data);
      break;
  }
  return 0;
}
