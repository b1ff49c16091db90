// flat_buffer: a read into an idle connection's buffer starts in a small block
// and is promoted to a standard pool block only when the bytes need it, with
// the unread bytes carried over.

#include "net/flat_buffer.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace cohort::net {
namespace {

void put(flat_buffer& b, char* at, std::string_view bytes) {
  std::memcpy(at, bytes.data(), bytes.size());
  b.commit(bytes.size());
}

TEST(FlatBuffer, SmallFirstReadHoldsOnlyTheSmallBlock) {
  block_pool pool;
  flat_buffer b(&pool);
  char* p = b.prepare_small(1024);
  EXPECT_EQ(b.capacity(), 1024u);
  EXPECT_EQ(b.writable(), 1024u);
  put(b, p, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(b.readable(), "GET / HTTP/1.1\r\n\r\n");
  b.consume(b.size());
  b.release();
  EXPECT_EQ(b.capacity(), 0u);
}

TEST(FlatBuffer, PromotesToAPoolBlockKeepingUnreadBytes) {
  block_pool pool;
  flat_buffer b(&pool);
  std::string head(1024, 'h');
  put(b, b.prepare_small(1024), head);
  b.consume(24);  // part already parsed
  char* p = b.prepare(4096, 16384 + 8192);
  EXPECT_EQ(b.capacity(), block_pool::block_size);
  EXPECT_EQ(b.readable(), head.substr(24));
  put(b, p, "tail");
  EXPECT_EQ(b.readable(), head.substr(24) + "tail");
}

TEST(FlatBuffer, SmallBlocksNeverEnterThePool) {
  block_pool pool;
  flat_buffer b(&pool);
  b.prepare_small(512);
  b.release();
  EXPECT_EQ(pool.kept(), 0u);  // a small block is freed, not pooled
  char* p = b.prepare(100, 100000);
  EXPECT_EQ(b.capacity(), block_pool::block_size);
  put(b, p, "x");
  b.consume(1);
  b.release();
  // The standard block went back, and the next take is that very block.
  ASSERT_EQ(pool.kept(), 1u);
  EXPECT_EQ(pool.take().get(), p);
}

TEST(FlatBuffer, PrepareSmallWithStorageDefersToPrepare) {
  flat_buffer b;
  put(b, b.prepare(10, 100000), "abc");
  const auto cap = b.capacity();
  b.prepare_small(64);
  EXPECT_EQ(b.capacity(), cap);
  EXPECT_EQ(b.readable(), "abc");
}

TEST(FlatBuffer, GrowsPastAStandardBlockForLargeNeeds) {
  flat_buffer b;
  put(b, b.prepare_small(256), std::string(200, 'a'));
  b.prepare(40000, 65536);
  EXPECT_GE(b.writable(), 40000u);
  EXPECT_EQ(b.readable(), std::string(200, 'a'));
}

}  // namespace
}  // namespace cohort::net
