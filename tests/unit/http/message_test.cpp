#include "http/message.hpp"

#include "http/char_class.hpp"

#include <gtest/gtest.h>
#include <cctype>
#include <string>
#include <utility>
#include <vector>

namespace cohort::http {
namespace {

TEST(Iequals, ComparesAsciiCaseInsensitively) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("Host", "Hos"));
  EXPECT_FALSE(iequals("Host", "Hosu"));
  // '@' and '`' differ from 'A'/'a'... by the case bit but are not letters.
  EXPECT_FALSE(iequals("@", "`"));
  EXPECT_FALSE(iequals("[", "{"));
}

TEST(RequestHead, FindReturnsFirstMatchCaseInsensitively) {
  request_head h;
  h.headers = {{"Accept", "a"}, {"X-Id", "1"}, {"x-id", "2"}};
  const header* f = h.find("X-ID");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->value, "1");
  EXPECT_EQ(h.find("missing"), nullptr);
}

TEST(RequestHead, ClearResetsFieldsAndKeepsCapacity) {
  request_head h;
  h.headers.reserve(32);
  h.headers.push_back({"a", "b"});
  h.method = "GET";
  h.keep_alive = false;
  h.upgrade = true;
  h.framing = body_framing::chunked;
  h.content_length = 7;
  const auto cap = h.headers.capacity();
  h.clear();
  EXPECT_TRUE(h.headers.empty());
  EXPECT_EQ(h.headers.capacity(), cap);
  EXPECT_TRUE(h.method.empty());
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.upgrade);
  EXPECT_EQ(h.framing, body_framing::none);
  EXPECT_EQ(h.content_length, 0u);
}

TEST(ResponseHead, FindAndClear) {
  response_head h;
  h.headers = {{"Server", "x"}};
  h.status = 200;
  ASSERT_NE(h.find("server"), nullptr);
  const auto cap = h.headers.capacity();
  h.clear();
  EXPECT_EQ(h.status, 0u);
  EXPECT_EQ(h.find("server"), nullptr);
  EXPECT_EQ(h.headers.capacity(), cap);
}

}  // namespace
}  // namespace cohort::http

namespace cohort::http {
namespace {

// The word-at-a-time lowercase agrees with a byte loop on every byte value,
// at every length and alignment.
TEST(SwarLower, AgreesWithTheByteLoop) {
  std::string all;
  for (int c = 0; c < 256; ++c) {
    all.push_back(static_cast<char>(c));
  }
  all += "Content-Type X-Backend-VERSION @[`{";
  for (std::size_t from = 0; from < 9; ++from) {
    for (std::size_t n = 0; from + n <= all.size(); n += 7) {
      std::string got(n, '\0');
      detail::swar::lower_copy(got.data(), all.data() + from, n);
      for (std::size_t i = 0; i < n; ++i) {
        const char c = all[from + i];
        const char want = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
        ASSERT_EQ(got[i], want) << "byte " << static_cast<int>(static_cast<unsigned char>(c));
      }
    }
  }
}

}  // namespace
}  // namespace cohort::http

namespace cohort::http {
namespace {

// The word-at-a-time iequals agrees with a byte-by-byte comparison, including
// for bytes that differ by 0x20 without being letters ('@' and '`', '[' and '{').
TEST(Iequals, AgreesWithTheByteLoopAtEveryLength) {
  const std::string alphabet = "aAzZ-@`[{09_~\x80\xc0\xe0";
  std::uint64_t seed = 12345;
  auto next = [&] {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::size_t>(seed >> 33);
  };
  auto slow = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
      return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
      auto low = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
      if (low(a[i]) != low(b[i])) {
        return false;
      }
    }
    return true;
  };
  for (int round = 0; round < 20000; ++round) {
    const std::size_t n = next() % 40;
    std::string a;
    for (std::size_t i = 0; i < n; ++i) {
      a.push_back(alphabet[next() % alphabet.size()]);
    }
    std::string b = a;
    for (auto& c : b) {
      if (next() % 3 == 0 && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
        c = static_cast<char>(c ^ 0x20);  // the same letter, other case
      }
    }
    if (n > 0 && next() % 2 == 0) {
      b[next() % n] = alphabet[next() % alphabet.size()];  // maybe a real difference
    }
    ASSERT_EQ(iequals(a, b), slow(a, b)) << "'" << a << "' vs '" << b << "'";
  }
}

TEST(IdentifyField, NamesEveryKnownFieldInAnyCaseAndNothingElse) {
  const std::vector<std::pair<std::string, field_id>> known = {
      {"te", field_id::te},
      {"host", field_id::host},
      {"expect", field_id::expect},
      {"upgrade", field_id::upgrade},
      {"connection", field_id::connection},
      {"keep-alive", field_id::keep_alive},
      {"traceparent", field_id::traceparent},
      {"content-length", field_id::content_length},
      {"x-forwarded-for", field_id::x_forwarded_for},
      {"proxy-connection", field_id::proxy_connection},
      {"transfer-encoding", field_id::transfer_encoding},
      {"x-forwarded-proto", field_id::x_forwarded_proto},
      {"proxy-authenticate", field_id::proxy_authenticate},
      {"proxy-authorization", field_id::proxy_authorization},
  };
  for (const auto& [name, id] : known) {
    EXPECT_EQ(identify_field(name), id) << name;
    std::string upper = name;
    for (auto& c : upper) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    EXPECT_EQ(identify_field(upper), id) << upper;
    // Every one-byte change is another field: the first, a middle and the
    // last byte, including the changes that case-folding tricks get wrong
    // ('-' vs '\r' differ only in bit 0x20; '@' vs '`' likewise).
    for (const std::size_t at : {std::size_t{0}, name.size() / 2, name.size() - 1}) {
      for (const char c : {'x', '\r', '@', '`', '_', '\x80', '\xad'}) {
        std::string near = name;
        if (near[at] == c) {
          continue;
        }
        near[at] = c;
        EXPECT_EQ(identify_field(near), field_id::other) << near;
      }
    }
    EXPECT_EQ(identify_field(name + "s"), field_id::other);
    EXPECT_EQ(identify_field(name.substr(1)), field_id::other);
  }
  EXPECT_EQ(identify_field(""), field_id::other);
  EXPECT_EQ(identify_field("X-User-Id"), field_id::other);
}

TEST(IdentifyField, IdOfUsesTheParsersNameOrLooksItUp) {
  EXPECT_EQ(id_of(header{"Host", "a"}), field_id::host);  // built by hand: looked up
  EXPECT_EQ(id_of(header{"Host", "a", field_id::other}), field_id::other);
}

}  // namespace
}  // namespace cohort::http
