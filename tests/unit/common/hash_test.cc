#include "shardmesh/common/hash.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "shardmesh/common/random.h"

// The reference: xxh3 compiled inline for baseline x86-64, which is what Hash64 computed
// before long inputs went through libxxhash's run-time dispatch (AVX2/AVX-512).
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace shardmesh {
namespace {

TEST(HashTest, KnownXxh3Values) {
  // Reference values of XXH3_64bits: these are written to disk, so they must never change.
  EXPECT_EQ(Hash64(std::string_view("")), 0x2D06800538D394C2ULL);
  EXPECT_EQ(Hash64(std::string_view("a")), 0xE6C632B61E964E1FULL);
}

// Checksums written to disk before Hash64 took libxxhash's dispatched path for long inputs must
// still verify: every length around the short/long switch (240), the stripe (1024) and the
// block sizes, unaligned starts and seeds give the inlined reference's value.
TEST(HashTest, LongInputsGiveTheInlinedReferenceValue) {
  Rng rng(42);
  std::vector<std::uint8_t> data((1u << 20) + 77);
  for (std::uint8_t& b : data) b = static_cast<std::uint8_t>(rng.Next());
  for (std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{0x9e3779b97f4a7c15ULL}}) {
    for (std::size_t offset : {std::size_t{0}, std::size_t{3}}) {
      for (std::size_t size :
           {std::size_t{0}, std::size_t{1}, std::size_t{17}, std::size_t{239}, std::size_t{240},
            std::size_t{241}, std::size_t{1023}, std::size_t{1024}, std::size_t{4097},
            std::size_t{65536}, std::size_t{65536 + 13}, std::size_t{1} << 20}) {
        EXPECT_EQ(Hash64(data.data() + offset, size, seed),
                  XXH3_64bits_withSeed(data.data() + offset, size, seed))
            << "size " << size << " offset " << offset << " seed " << seed;
      }
    }
  }
}

TEST(HashTest, OneFlippedBitChangesALongInputsValue) {
  std::vector<std::uint8_t> data(65536, 0x5a);
  const std::uint64_t before = Hash64(data.data(), data.size());
  data[40000] ^= 0x10;
  EXPECT_NE(Hash64(data.data(), data.size()), before);
}

TEST(HashTest, SeedChangesValue) { EXPECT_NE(Hash64("shard", 1), Hash64("shard", 2)); }

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
