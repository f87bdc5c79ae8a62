#include "shardmesh/common/hash.h"

#include <gtest/gtest.h>

#include <string>

namespace shardmesh {
namespace {

TEST(HashTest, KnownXxh3Values) {
  // Reference values of XXH3_64bits: these are written to disk, so they must never change.
  EXPECT_EQ(Hash64(std::string_view("")), 0x2D06800538D394C2ULL);
  EXPECT_EQ(Hash64(std::string_view("a")), 0xE6C632B61E964E1FULL);
}

TEST(HashTest, SeedChangesValue) {
  EXPECT_NE(Hash64("shard", 1), Hash64("shard", 2));
}

TEST(HashTest, StreamingMatchesOneShot) {
  const std::string data(10000, 'x');
  Hasher64 h(7);
  h.Update(data.substr(0, 1234));
  h.Update(data.substr(1234));
  EXPECT_EQ(h.Digest(), Hash64(data, 7));
}

TEST(HashTest, HasherIsMovable) {
  Hasher64 a(3);
  a.Update("abc");
  Hasher64 b(std::move(a));
  EXPECT_EQ(b.Digest(), Hash64("abc", 3));
}

TEST(HashTest, MixIsBijectiveOnSample) {
  EXPECT_NE(Mix64(0), Mix64(1));
  EXPECT_NE(HashCombine(1, 2), HashCombine(2, 1));
}

}  // namespace
}  // namespace shardmesh
