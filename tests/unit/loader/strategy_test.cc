// Properties every static strategy must have, for world sizes 1, 2, 3, 4, 7 over 1009 samples
// in uneven blocks (a count none of them divides), under both drop policies.
#include "shardmesh/loader/strategy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "shardmesh/loader/partition_plan.h"

namespace shardmesh::loader {
namespace {

constexpr std::uint64_t kSamples = 1009;

DatasetLayout UnevenLayout() {
  std::vector<std::uint32_t> sizes, shards;
  std::uint32_t total = 0;
  for (std::uint32_t b = 0; b < 39; ++b) {
    sizes.push_back(5 + (b * 13) % 37);
    total += sizes.back();
    shards.push_back(b / 10);
  }
  sizes.push_back(kSamples - total);
  shards.push_back(3);
  return *DatasetLayout::Create(sizes, shards);
}

// Skewed labels over 5 classes.
std::vector<std::int64_t> Labels() {
  std::vector<std::int64_t> labels(kSamples);
  for (std::uint64_t i = 0; i < kSamples; ++i) {
    const std::uint64_t h = (i * 2654435761u) % 100;
    labels[i] = h < 50 ? 0 : h < 75 ? 1 : h < 88 ? 2 : h < 97 ? 3 : 4;
  }
  return labels;
}

// Ranges of uneven lengths tiling [0, N), listed in reverse rank order to exercise sorting.
std::vector<SampleRange> Ranges(std::uint32_t w) {
  std::vector<std::uint64_t> cuts = {0};
  for (std::uint32_t r = 1; r < w; ++r) cuts.push_back(kSamples * r * r / (w * w));
  cuts.push_back(kSamples);
  std::vector<SampleRange> ranges(w);
  for (std::uint32_t r = 0; r < w; ++r) ranges[w - 1 - r] = {cuts[r], cuts[r + 1]};
  return ranges;
}

using Param = std::tuple<Strategy, std::uint32_t, DropPolicy>;

class StrategyTest : public ::testing::TestWithParam<Param> {
 protected:
  PlanOptions Options(std::uint64_t epoch = 0) const {
    PlanOptions o;
    o.strategy = std::get<0>(GetParam());
    o.world_size = std::get<1>(GetParam());
    o.drop_policy = std::get<2>(GetParam());
    o.seed = 1234;
    o.epoch = epoch;
    o.partitions = 16;
    if (o.strategy == Strategy::kRange) o.ranges = Ranges(o.world_size);
    return o;
  }
  PartitionPlan Plan(std::uint64_t epoch = 0) const {
    auto plan = BuildPartitionPlan(layout_, labels_, Options(epoch));
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    return *std::move(plan);
  }
  bool Adaptive() const { return std::get<0>(GetParam()) == Strategy::kAdaptive; }

  DatasetLayout layout_ = UnevenLayout();
  std::vector<std::int64_t> labels_ = Labels();
};

TEST_P(StrategyTest, DisjointAndComplete) {
  const auto plan = Plan();
  const std::uint32_t w = std::get<1>(GetParam());
  std::map<std::uint64_t, int> seen;
  std::uint64_t padding = 0, total = 0;
  for (const auto& r : plan.ranks) {
    for (auto s : r.sequence) {
      ASSERT_LT(s, kSamples);
      ++seen[s];
    }
    padding += r.padding_samples;
    total += r.sequence.size();
  }
  std::uint64_t duplicates = 0;
  for (const auto& [s, n] : seen) duplicates += n - 1;
  if (Adaptive() || std::get<2>(GetParam()) == DropPolicy::kPad) {
    EXPECT_EQ(seen.size(), kSamples) << "union must be every sample";
    EXPECT_EQ(duplicates, padding) << "the only duplicates are the padding";
    EXPECT_EQ(plan.dropped_samples, 0u);
  } else {
    EXPECT_EQ(duplicates, 0u);
    EXPECT_EQ(padding, 0u);
    EXPECT_LT(kSamples - seen.size(), w);
    EXPECT_EQ(kSamples - seen.size(), plan.dropped_samples);
  }
  EXPECT_EQ(total, seen.size() + duplicates);
}

TEST_P(StrategyTest, EqualCountsExceptAdaptive) {
  const auto plan = Plan();
  const std::uint32_t w = std::get<1>(GetParam());
  if (Adaptive()) {
    // Equal throughputs: each rank's share is within one partition of N / W.
    auto order = EpochOrder::Build(layout_, {1234, 0, 16, 1});
    ASSERT_TRUE(order.ok());
    std::size_t largest = 0;
    for (std::uint32_t p = 0; p < order->num_partitions(); ++p) {
      largest = std::max(largest, order->PartitionSamples(p).size());
    }
    for (const auto& r : plan.ranks) {
      EXPECT_LE(std::abs(static_cast<double>(r.sequence.size()) - double(kSamples) / w),
                static_cast<double>(largest))
          << "rank " << r.rank;
    }
    return;
  }
  const std::uint64_t expected =
      std::get<2>(GetParam()) == DropPolicy::kPad ? (kSamples + w - 1) / w : kSamples / w;
  for (const auto& r : plan.ranks) EXPECT_EQ(r.sequence.size(), expected) << "rank " << r.rank;
}

TEST_P(StrategyTest, SameSeedAndEpochSameOrderOtherEpochOtherOrder) {
  const auto a = Plan(5), b = Plan(5), c = Plan(6);
  bool differs = false;
  for (std::size_t r = 0; r < a.ranks.size(); ++r) {
    EXPECT_EQ(a.ranks[r].sequence, b.ranks[r].sequence);
    differs |= a.ranks[r].sequence != c.ranks[r].sequence;
  }
  EXPECT_TRUE(differs);
  EXPECT_EQ(a.digest, c.digest) << "the digest does not depend on the epoch";
}

TEST_P(StrategyTest, RankStreamsFollowTheGlobalOrder) {
  // What a rank was assigned (before balancing) is G restricted to it: positions in G rise.
  const auto plan = Plan(2);
  auto order = EpochOrder::Build(layout_, {1234, 2, 16, 1});
  ASSERT_TRUE(order.ok());
  const auto g = order->Global();
  std::vector<std::size_t> pos(kSamples);
  for (std::size_t i = 0; i < g.size(); ++i) pos[g[i]] = i;
  for (const auto& r : plan.ranks) {
    for (std::size_t i = 1; i < r.own_samples; ++i) {
      ASSERT_LT(pos[r.sequence[i - 1]], pos[r.sequence[i]]) << "rank " << r.rank << " at " << i;
    }
  }
}

TEST_P(StrategyTest, ThisRankPlanDoesNotDependOnOptionsRank) {
  auto o = Options();
  o.rank = o.world_size - 1;
  auto other = BuildPartitionPlan(layout_, labels_, o);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->ranks.back().sequence, Plan().ranks.back().sequence);
}

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  std::string name(StrategyName(std::get<0>(info.param)));
  name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
  return name + "_W" + std::to_string(std::get<1>(info.param)) + "_" +
         std::string(DropPolicyName(std::get<2>(info.param)));
}

INSTANTIATE_TEST_SUITE_P(
    AllStrategies, StrategyTest,
    ::testing::Combine(::testing::Values(Strategy::kRoundRobin, Strategy::kContiguous,
                                         Strategy::kHash, Strategy::kRange, Strategy::kStratified,
                                         Strategy::kAdaptive),
                       ::testing::Values(1u, 2u, 3u, 4u, 7u),
                       ::testing::Values(DropPolicy::kPad, DropPolicy::kDrop)),
    ParamName);

class StrategyNameTest : public ::testing::Test {};

TEST_F(StrategyNameTest, NamesRoundTripAndUnknownNamesAreRejected) {
  for (Strategy s : {Strategy::kRoundRobin, Strategy::kContiguous, Strategy::kHash,
                     Strategy::kRange, Strategy::kStratified, Strategy::kAdaptive}) {
    auto parsed = ParseStrategy(StrategyName(s));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, s);
  }
  auto bad = ParseStrategy("roundrobin");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("round-robin"), std::string::npos);
}

}  // namespace
}  // namespace shardmesh::loader
