#include "http/chunked.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace cohort::http {
namespace {

using namespace std::string_literals;

struct outcome {
  std::string body;
  std::string trailers;
  bool done = false;
  bool error = false;
  std::size_t left = 0;  // input bytes never consumed
};

// Feeds the pieces in order the way a connection would: unconsumed bytes are
// kept and the next piece is appended to them.
outcome decode_pieces(const std::vector<std::string>& pieces, chunked_decoder::limits limits = {}) {
  chunked_decoder d(limits);
  outcome o;
  std::string buffer;
  for (const std::string& piece : pieces) {
    buffer += piece;
    for (;;) {
      const chunked_decoder::step s = d.decode(buffer);
      EXPECT_LE(s.consumed, buffer.size());
      o.body.append(s.data);
      buffer.erase(0, s.consumed);
      if (s.error) {
        o.error = true;
        o.left = buffer.size();
        return o;
      }
      if (s.done) {
        o.done = true;
        o.trailers = d.trailers();
        o.left = buffer.size();
        return o;
      }
      if (s.need_more) {
        break;
      }
    }
  }
  o.left = buffer.size();
  return o;
}

outcome decode_whole(const std::string& input, chunked_decoder::limits limits = {}) {
  return decode_pieces({input}, limits);
}

std::vector<std::string> bytes_of(const std::string& input) {
  std::vector<std::string> v;
  for (char c : input) {
    v.emplace_back(1, c);
  }
  return v;
}

std::vector<std::string> random_split(const std::string& input, std::mt19937& rng) {
  std::vector<std::string> v;
  std::size_t i = 0;
  while (i < input.size()) {
    const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 12)(rng);
    v.push_back(input.substr(i, n));
    i += n;
  }
  return v;
}

const std::string sample =
    "5\r\nhello\r\n"
    "1A;name=value;flag;q=\"a \\\" ; b\"\r\n"
    "abcdefghijklmnopqrstuvwxyz\r\n"
    "000000000000000F\r\n"
    "0123456789ABCDE\r\n"
    "0\r\n"
    "X-Checksum: abc\r\n"
    "Server-Timing: db;dur=53\r\n"
    "\r\n";

TEST(ChunkedDecoder, DecodesWholeInput) {
  const outcome o = decode_whole(sample + "NEXT");
  ASSERT_TRUE(o.done);
  EXPECT_FALSE(o.error);
  EXPECT_EQ(o.body,
            "hello"
            "abcdefghijklmnopqrstuvwxyz"
            "0123456789ABCDE");
  EXPECT_EQ(o.trailers, "X-Checksum: abc\r\nServer-Timing: db;dur=53\r\n");
  EXPECT_EQ(o.left, 4u);  // the next message is left alone
}

TEST(ChunkedDecoder, OneByteAtATimeEqualsWhole) {
  const outcome whole = decode_whole(sample);
  const outcome bytes = decode_pieces(bytes_of(sample));
  ASSERT_TRUE(bytes.done);
  EXPECT_EQ(bytes.body, whole.body);
  EXPECT_EQ(bytes.trailers, whole.trailers);
  EXPECT_EQ(bytes.left, 0u);
}

TEST(ChunkedDecoder, RandomSplitsEqualWhole) {
  const outcome whole = decode_whole(sample);
  std::mt19937 rng(1234);
  for (int i = 0; i < 200; ++i) {
    const outcome o = decode_pieces(random_split(sample, rng));
    ASSERT_TRUE(o.done) << i;
    EXPECT_EQ(o.body, whole.body);
    EXPECT_EQ(o.trailers, whole.trailers);
  }
}

TEST(ChunkedDecoder, OneDataSpanPerCall) {
  chunked_decoder d;
  const std::string in = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  chunked_decoder::step s = d.decode(in);
  EXPECT_EQ(s.data, "abc");
  EXPECT_FALSE(s.need_more);
  EXPECT_EQ(s.consumed, 6u);
  s = d.decode(std::string_view(in).substr(6));
  EXPECT_EQ(s.data, "de");
  EXPECT_EQ(s.consumed, 7u);  // "\r\n" of the first chunk, "2\r\n", "de"
  s = d.decode(std::string_view(in).substr(13));
  EXPECT_TRUE(s.data.empty());
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.consumed, in.size() - 13);
  // Done stays done and consumes nothing more.
  s = d.decode("more");
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.consumed, 0u);
}

TEST(ChunkedDecoder, PartialDataIsReturnedAsItArrives) {
  chunked_decoder d;
  chunked_decoder::step s = d.decode("a\r\n0123");
  EXPECT_EQ(s.data, "0123");
  EXPECT_TRUE(s.need_more);
  EXPECT_EQ(s.consumed, 7u);
  s = d.decode("456789\r\n0\r\n\r\n");
  EXPECT_EQ(s.data, "456789");
  s = d.decode(std::string_view("456789\r\n0\r\n\r\n").substr(s.consumed));
  EXPECT_TRUE(s.done);
}

TEST(ChunkedDecoder, IncompleteSizeLineConsumesNothing) {
  chunked_decoder d;
  const chunked_decoder::step s = d.decode("1f;ext=");
  EXPECT_TRUE(s.need_more);
  EXPECT_FALSE(s.error);
  EXPECT_EQ(s.consumed, 0u);
}

TEST(ChunkedDecoder, RejectsInvalidSizes) {
  for (const std::string size : {"g", "", "-1", "+1", "0x10", " 5", "5 ", "5 ;a", "5; a", "5;a =b",
                                 "5;a= b", "12345678901234567", "00000000000000000", "5;", "5;=x",
                                 "5;a=", "5;a=\"x", "5;a=b c", "5\r\r"}) {
    const outcome o = decode_whole(size + "\r\nhello\r\n0\r\n\r\n");
    EXPECT_TRUE(o.error) << size;
    EXPECT_FALSE(o.done) << size;
  }
  // 16 digits is the most, and still fine when the value fits.
  const outcome o = decode_whole("0000000000000005\r\nhello\r\n0\r\n\r\n");
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.body, "hello");
}

TEST(ChunkedDecoder, RejectsBadFraming) {
  for (const std::string& in : {
           "5\r\nhelloX\r\n0\r\n\r\n"s,        // data longer than declared
           "5\r\nhell\r\n0\r\n\r\n"s,          // shorter: the CRLF lands inside
           "5\r\nhello\n0\r\n\r\n"s,           // bare LF after data
           "5\r\nhello\rX0\r\n\r\n"s,          // bare CR after data
           "5\nhello\r\n0\r\n\r\n"s,           // bare LF after size
           "0\r\nX : y\r\n\r\n"s,              // trailer with space before colon
           "0\r\nX: y\r\n z\r\n\r\n"s,         // obs-fold in trailers
           "0\r\nX: a\x01b\r\n\r\n"s,          // CTL in a trailer
           "0\r\nX: y\n\r\n"s,                 // bare LF in trailers
           "0\r\n\rX"s,                        // bare CR at the end
           "0\r\nContent-Length: 5\r\n\r\n"s,  // framing field in trailers
           "0\r\nTransfer-Encoding: chunked\r\n\r\n"s,
       }) {
    const outcome o = decode_whole(in);
    EXPECT_TRUE(o.error) << in;
  }
}

TEST(ChunkedDecoder, ErrorIsSticky) {
  chunked_decoder d;
  EXPECT_TRUE(d.decode("zz\r\n").error);
  EXPECT_TRUE(d.decode("5\r\nhello\r\n").error);
  d.reset();
  const chunked_decoder::step s = d.decode("5\r\nhello\r\n");
  EXPECT_FALSE(s.error);
  EXPECT_EQ(s.data, "hello");
}

TEST(ChunkedDecoder, ChunkLineLimit) {
  chunked_decoder::limits limits;
  limits.max_chunk_line = 16;
  // 13 bytes of size and extension + CRLF = 15: fits.
  EXPECT_TRUE(decode_whole("1;abcdefghijk\r\nx\r\n0\r\n\r\n", limits).done);
  // 17 bytes with the CRLF: too long, refused even before the CRLF arrives.
  EXPECT_TRUE(decode_whole("1;abcdefghijklmn\r\nx\r\n0\r\n\r\n", limits).error);
  EXPECT_TRUE(decode_whole("1;abcdefghijklmnopq", limits).error);
  const outcome waiting = decode_whole("1;abcdefghijkl", limits);
  EXPECT_FALSE(waiting.error);
  EXPECT_EQ(waiting.left, 14u);
}

TEST(ChunkedDecoder, TrailerLimit) {
  chunked_decoder::limits limits;
  limits.max_trailer_bytes = 20;
  const outcome fits = decode_whole("0\r\nA: 1\r\nB: 2\r\nC: 345\r\n\r\n", limits);  // 20 bytes
  ASSERT_TRUE(fits.done);
  EXPECT_EQ(fits.trailers, "A: 1\r\nB: 2\r\nC: 345\r\n");
  EXPECT_TRUE(decode_whole("0\r\nA: 1\r\nB: 2\r\nC: 3456\r\n\r\n", limits).error);
  EXPECT_TRUE(decode_pieces(bytes_of("0\r\nA: 1\r\nB: 2\r\nC: 3456\r\n\r\n"), limits).error);
}

TEST(ChunkedDecoder, NoTrailers) {
  const outcome o = decode_whole("0\r\n\r\n");
  ASSERT_TRUE(o.done);
  EXPECT_TRUE(o.trailers.empty());
}

TEST(ChunkedEncoder, WritesLowercaseHexFraming) {
  std::string out;
  append_chunk(out, std::string(255, 'x'));
  EXPECT_EQ(out.substr(0, 4), "ff\r\n");
  EXPECT_EQ(out.size(), 4 + 255 + 2u);
  EXPECT_EQ(out.substr(out.size() - 2), "\r\n");
  out.clear();
  append_chunk(out, "");
  EXPECT_EQ(out, "");
  append_chunk_header(out, 0xABCDEF);
  EXPECT_EQ(out, "abcdef\r\n");
  out.clear();
  append_last_chunk(out, "A: b\r\n");
  EXPECT_EQ(out, "0\r\nA: b\r\n\r\n");
}

TEST(ChunkedEncoder, RoundTrip) {
  std::mt19937 rng(99);
  for (int round = 0; round < 50; ++round) {
    std::string body;
    std::string encoded;
    const int chunks = std::uniform_int_distribution<int>(0, 8)(rng);
    for (int c = 0; c < chunks; ++c) {
      std::string data(std::uniform_int_distribution<std::size_t>(0, 5000)(rng), '\0');
      for (char& ch : data) {
        ch = static_cast<char>(rng());  // any byte, CR and LF included
      }
      body += data;
      append_chunk(encoded, data);
    }
    const std::string trailers = round % 2 ? "X-Sum: 42\r\nX-Other: y\r\n" : "";
    append_last_chunk(encoded, trailers);
    const outcome o = decode_pieces(random_split(encoded, rng));
    ASSERT_TRUE(o.done) << round;
    EXPECT_EQ(o.body, body);
    EXPECT_EQ(o.trailers, trailers);
    EXPECT_EQ(o.left, 0u);
  }
}

TEST(for_each_trailer, splits_trims_and_skips_lines_without_a_name) {
  std::vector<std::pair<std::string, std::string>> seen;
  for_each_trailer(
      "grpc-status: 0\r\nX-Sum:\tab c \r\n: nameless\r\nno colon\nlast:1",
      [&](std::string_view name, std::string_view value) { seen.emplace_back(name, value); });
  const std::vector<std::pair<std::string, std::string>> expected{
      {"grpc-status", "0"}, {"X-Sum", "ab c"}, {"last", "1"}};
  EXPECT_EQ(seen, expected);
}

}  // namespace
}  // namespace cohort::http
