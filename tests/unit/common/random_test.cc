#include "shardmesh/common/random.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

namespace shardmesh {
namespace {

TEST(RngTest, SameSeedSameSequence) {
  Rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.Next();
    EXPECT_EQ(x, b.Next());
    differs |= (x != c.Next());
  }
  EXPECT_TRUE(differs);
}

TEST(RngTest, UniformStaysInBoundsAndCoversRange) {
  Rng r(1);
  std::vector<int> hits(7, 0);
  for (int i = 0; i < 7000; ++i) {
    const auto v = r.Uniform(7);
    ASSERT_LT(v, 7u);
    ++hits[v];
  }
  for (int h : hits) EXPECT_GT(h, 800);
}

TEST(RngTest, ShuffleIsAPermutationAndDeterministic) {
  std::vector<int> a(1000), b;
  std::iota(a.begin(), a.end(), 0);
  b = a;
  Rng r1(9), r2(9);
  Shuffle(std::span<int>(a), r1);
  Shuffle(std::span<int>(b), r2);
  EXPECT_EQ(a, b);
  std::vector<int> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  int fixed = 0;
  for (int i = 0; i < 1000; ++i) fixed += (a[i] == i);
  EXPECT_LT(fixed, 20);
}

}  // namespace
}  // namespace shardmesh
