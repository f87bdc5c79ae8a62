#include "shardmesh/loader/epoch_order.h"

#include <gtest/gtest.h>

// Options are written with designated initializers; unnamed fields keep their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <algorithm>
#include <numeric>
#include <set>
#include <vector>

namespace shardmesh::loader {
namespace {

// 1009 samples (prime) in 40 blocks of uneven sizes over 3 shards.
DatasetLayout UnevenLayout() {
  std::vector<std::uint32_t> sizes, shards;
  std::uint32_t total = 0;
  for (std::uint32_t b = 0; b < 39; ++b) {
    sizes.push_back(5 + (b * 13) % 37);
    total += sizes.back();
    shards.push_back(b < 12 ? 0 : (b < 30 ? 1 : 2));
  }
  sizes.push_back(1009 - total);
  shards.push_back(2);
  auto layout = DatasetLayout::Create(sizes, shards);
  EXPECT_TRUE(layout.ok()) << layout.status().ToString();
  return *layout;
}

EpochOrder Build(const DatasetLayout& layout, EpochOrderOptions options) {
  auto order = EpochOrder::Build(layout, options);
  EXPECT_TRUE(order.ok()) << order.status().ToString();
  return *std::move(order);
}

class EpochOrderTest : public ::testing::Test {
 protected:
  DatasetLayout layout_ = UnevenLayout();
};

TEST_F(EpochOrderTest, LayoutHasTheExpectedShape) {
  EXPECT_EQ(layout_.num_samples(), 1009u);
  EXPECT_EQ(layout_.num_blocks(), 40u);
  for (std::uint32_t b = 0; b < layout_.num_blocks(); ++b) {
    EXPECT_EQ(layout_.BlockOfSample(layout_.block_first_sample(b)), b);
    EXPECT_EQ(layout_.BlockOfSample(layout_.block_first_sample(b) + layout_.block_samples(b) - 1),
              b);
  }
}

// Every sample of layouts mixing one-sample blocks with large ones (the table's buckets then
// span many blocks, or many buckets one block) maps to the block a plain search over the block
// starts finds.
TEST(DatasetLayoutTest, BlockOfSampleAgreesWithASearchOverBlockStarts) {
  const std::vector<std::vector<std::uint32_t>> layouts = {
      {1},
      {7},
      {1, 1, 1, 1},
      {1000, 1, 1, 1, 1, 1, 1, 1, 1, 1000},
      {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 500, 1, 1, 64, 65, 63},
      {3, 170, 171, 169, 170, 170, 90},
  };
  for (const auto& sizes : layouts) {
    auto layout = DatasetLayout::Create(sizes);
    ASSERT_TRUE(layout.ok());
    std::vector<std::uint64_t> starts;
    std::uint64_t total = 0;
    for (std::uint32_t n : sizes) {
      starts.push_back(total);
      total += n;
    }
    ASSERT_EQ(layout->num_samples(), total);
    for (std::uint64_t s = 0; s < total; ++s) {
      const auto expected = static_cast<std::uint32_t>(
          std::upper_bound(starts.begin(), starts.end(), s) - starts.begin() - 1);
      ASSERT_EQ(layout->BlockOfSample(s), expected) << "sample " << s << " of " << total;
    }
  }
}

TEST_F(EpochOrderTest, GlobalOrderIsAPermutationOfAllSamples) {
  for (std::uint32_t window : {1u, 2u, 5u}) {
    const auto g =
        Build(layout_, {.seed = 7, .epoch = 1, .partitions = 8, .shuffle_window_blocks = window})
            .Global();
    ASSERT_EQ(g.size(), 1009u);
    std::vector<std::uint64_t> sorted = g;
    std::sort(sorted.begin(), sorted.end());
    for (std::uint64_t i = 0; i < sorted.size(); ++i) ASSERT_EQ(sorted[i], i);
  }
}

TEST_F(EpochOrderTest, SameSeedAndEpochGiveTheSameOrderOthersDiffer) {
  const auto a = Build(layout_, {.seed = 1, .epoch = 3}).Global();
  const auto b = Build(layout_, {.seed = 1, .epoch = 3}).Global();
  const auto other_epoch = Build(layout_, {.seed = 1, .epoch = 4}).Global();
  const auto other_seed = Build(layout_, {.seed = 2, .epoch = 3}).Global();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, other_epoch);
  EXPECT_NE(a, other_seed);
}

TEST_F(EpochOrderTest, PartitionsAreContiguousRunsOfWholeBlocks) {
  const auto order = Build(layout_, {.seed = 5, .partitions = 7});
  ASSERT_EQ(order.num_partitions(), 7u);
  const auto list = order.BlockList();
  ASSERT_EQ(list.size(), 40u);
  std::size_t at = 0;
  for (std::uint32_t p = 0; p < 7; ++p) {
    const auto blocks = order.PartitionBlocks(p);
    EXPECT_EQ(blocks.size(), (p + 1) * 40 / 7 - p * 40 / 7) << "partition " << p;
    std::multiset<std::uint64_t> expected;
    for (std::uint32_t b : blocks) {
      EXPECT_EQ(b, list[at++]);
      EXPECT_EQ(order.PartitionOfBlock(b), p);
      for (std::uint32_t k = 0; k < layout_.block_samples(b); ++k) {
        expected.insert(layout_.block_first_sample(b) + k);
      }
    }
    const auto samples = order.PartitionSamples(p);
    EXPECT_EQ(std::multiset<std::uint64_t>(samples.begin(), samples.end()), expected);
  }
}

TEST_F(EpochOrderTest, BlocksOfAShardStayTogetherInTheBlockList) {
  const auto order = Build(layout_, {.seed = 9});
  const auto list = order.BlockList();
  std::vector<std::uint32_t> shard_runs;
  for (std::uint32_t b : list) {
    const std::uint32_t shard = layout_.block_shard(b);
    if (shard_runs.empty() || shard_runs.back() != shard) shard_runs.push_back(shard);
  }
  EXPECT_EQ(shard_runs.size(), 3u);
}

TEST_F(EpochOrderTest, SamplesAreShuffledOnlyWithinTheirWindow) {
  for (std::uint32_t window : {1u, 3u}) {
    const auto order =
        Build(layout_, {.seed = 11, .partitions = 4, .shuffle_window_blocks = window});
    bool any_moved = false;
    for (std::uint32_t p = 0; p < order.num_partitions(); ++p) {
      const auto blocks = order.PartitionBlocks(p);
      const auto samples = order.PartitionSamples(p);
      std::size_t at = 0;
      for (std::size_t w = 0; w < blocks.size(); w += window) {
        std::set<std::uint64_t> expected;
        for (std::size_t i = w; i < std::min(blocks.size(), w + window); ++i) {
          for (std::uint32_t k = 0; k < layout_.block_samples(blocks[i]); ++k) {
            expected.insert(layout_.block_first_sample(blocks[i]) + k);
          }
        }
        std::vector<std::uint64_t> got(samples.begin() + at,
                                       samples.begin() + at + expected.size());
        any_moved |= !std::is_sorted(got.begin(), got.end());
        EXPECT_EQ(std::set<std::uint64_t>(got.begin(), got.end()), expected)
            << "partition " << p << " window " << w / window;
        at += expected.size();
      }
    }
    EXPECT_TRUE(any_moved) << "window " << window << " left every window in file order";
  }
}

TEST_F(EpochOrderTest, GlobalOrderInterleavesPartitionsStepByStep) {
  const auto order = Build(layout_, {.seed = 3, .partitions = 6});
  const auto g = order.Global();
  std::vector<std::size_t> cursor(order.num_partitions(), 0);
  std::size_t i = 0;
  while (i < g.size()) {
    for (std::uint32_t p = 0; p < order.num_partitions(); ++p) {
      const auto part = order.PartitionSamples(p);
      if (cursor[p] < part.size()) {
        ASSERT_EQ(g[i], part[cursor[p]]) << "position " << i;
        ++cursor[p];
        ++i;
      }
    }
  }
}

TEST_F(EpochOrderTest, InterleaveOfASubsetIsTheGlobalOrderRestrictedToIt) {
  const auto order = Build(layout_, {.seed = 3, .partitions = 8});
  const std::vector<std::uint32_t> subset = {1, 4, 6};
  std::set<std::uint64_t> members;
  for (std::uint32_t p : subset) {
    for (auto s : order.PartitionSamples(p)) members.insert(s);
  }
  std::vector<std::uint64_t> filtered;
  for (auto s : order.Global()) {
    if (members.count(s)) filtered.push_back(s);
  }
  EXPECT_EQ(order.Interleave(subset), filtered);
}

TEST_F(EpochOrderTest, SmallLayoutTable) {
  // Two blocks of 3 and 2 samples, two partitions of one block each: G alternates partitions
  // and the longer one finishes alone.
  auto layout = DatasetLayout::Create({3, 2});
  ASSERT_TRUE(layout.ok());
  const auto order = Build(*layout, {.seed = 1, .partitions = 2});
  const auto g = order.Global();
  ASSERT_EQ(g.size(), 5u);
  const std::uint32_t p0_block = order.PartitionBlocks(0)[0];
  const auto in_block = [&](std::uint64_t s, std::uint32_t b) {
    return layout->BlockOfSample(s) == b;
  };
  const std::vector<std::uint32_t> expected_blocks =
      p0_block == 0 ? std::vector<std::uint32_t>{0, 1, 0, 1, 0}
                    : std::vector<std::uint32_t>{1, 0, 1, 0, 0};
  for (std::size_t i = 0; i < g.size(); ++i) {
    EXPECT_TRUE(in_block(g[i], expected_blocks[i])) << "position " << i;
  }
}

TEST_F(EpochOrderTest, PartitionCountIsCappedAtTheBlockCount) {
  EXPECT_EQ(Build(layout_, {.partitions = 1000}).num_partitions(), 40u);
  EXPECT_EQ(Build(layout_, {.partitions = 1}).num_partitions(), 1u);
}

TEST_F(EpochOrderTest, EmptyLayoutGivesAnEmptyOrder) {
  auto empty = DatasetLayout::Create({});
  ASSERT_TRUE(empty.ok());
  const auto order = Build(*empty, {});
  EXPECT_EQ(order.num_partitions(), 0u);
  EXPECT_TRUE(order.Global().empty());
}

TEST_F(EpochOrderTest, InvalidOptionsAreRejectedNamingTheField) {
  auto zero_parts = EpochOrder::Build(layout_, {.partitions = 0});
  ASSERT_FALSE(zero_parts.ok());
  EXPECT_TRUE(zero_parts.status().IsInvalidArgument());
  EXPECT_NE(zero_parts.status().message().find("partitions"), std::string::npos);
  auto zero_window = EpochOrder::Build(layout_, {.shuffle_window_blocks = 0});
  ASSERT_FALSE(zero_window.ok());
  EXPECT_NE(zero_window.status().message().find("shuffle_window_blocks"), std::string::npos);
  auto bad_layout = DatasetLayout::Create({3, 0, 2});
  ASSERT_FALSE(bad_layout.ok());
  EXPECT_NE(bad_layout.status().message().find("block 1"), std::string::npos);
  EXPECT_FALSE(DatasetLayout::Create({3, 2}, {0}).ok());
}

TEST_F(EpochOrderTest, LayoutDigestDependsOnShapeAndFingerprint) {
  auto a = DatasetLayout::Create({3, 2});
  auto b = DatasetLayout::Create({2, 3});
  auto c = DatasetLayout::Create({3, 2}, {}, 99);
  auto a2 = DatasetLayout::Create({3, 2});
  EXPECT_EQ(a->digest(), a2->digest());
  EXPECT_NE(a->digest(), b->digest());
  EXPECT_NE(a->digest(), c->digest());
}

}  // namespace
}  // namespace shardmesh::loader
