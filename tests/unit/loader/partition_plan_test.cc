#include "shardmesh/loader/partition_plan.h"

#include <gtest/gtest.h>

// Options are written with designated initializers; unnamed fields keep their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace shardmesh::loader {
namespace {

DatasetLayout Layout(std::vector<std::uint32_t> sizes, std::vector<std::uint32_t> shards = {}) {
  auto layout = DatasetLayout::Create(std::move(sizes), std::move(shards));
  EXPECT_TRUE(layout.ok()) << layout.status().ToString();
  return *layout;
}

// 1009 samples in 40 uneven blocks.
DatasetLayout UnevenLayout() {
  std::vector<std::uint32_t> sizes;
  std::uint32_t total = 0;
  for (std::uint32_t b = 0; b < 39; ++b) {
    sizes.push_back(5 + (b * 13) % 37);
    total += sizes.back();
  }
  sizes.push_back(1009 - total);
  return Layout(sizes);
}

std::vector<std::uint64_t> GlobalOrder(const DatasetLayout& layout, const PlanOptions& o) {
  auto order = EpochOrder::Build(layout, {o.seed, o.epoch, o.partitions, o.shuffle_window_blocks});
  EXPECT_TRUE(order.ok());
  return order->Global();
}

PartitionPlan MustPlan(const DatasetLayout& layout, const PlanOptions& o,
                       std::span<const std::int64_t> labels = {}) {
  auto plan = BuildPartitionPlan(layout, labels, o);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return *std::move(plan);
}

class PartitionPlanTest : public ::testing::Test {};

TEST_F(PartitionPlanTest, RoundRobinRanksInterleaveBackIntoTheWorldSizeOneOrder) {
  // 32 equal blocks, 16 partitions, W = 4 divides P: rank streams taken one sample at a time in
  // rank order give exactly the W = 1 stream, which is G itself.
  const auto layout = Layout(std::vector<std::uint32_t>(32, 25));
  PlanOptions o{.world_size = 1, .seed = 42, .epoch = 3, .partitions = 16};
  const auto single = MustPlan(layout, o).ranks[0].sequence;
  EXPECT_EQ(single, GlobalOrder(layout, o));
  o.world_size = 4;
  const auto plan = MustPlan(layout, o);
  std::vector<std::uint64_t> merged;
  for (std::size_t t = 0; t < plan.target; ++t) {
    for (const auto& r : plan.ranks) merged.push_back(r.sequence[t]);
  }
  EXPECT_EQ(merged, single);
  for (const auto& r : plan.ranks) {
    EXPECT_EQ(r.received_samples, 0u);
    EXPECT_EQ(r.blocks_touched, 8u) << "each rank decodes only its own blocks";
  }
}

TEST_F(PartitionPlanTest, RoundRobinWithWorldSizeOneIsTheGlobalOrderOnUnevenBlocks) {
  const auto layout = UnevenLayout();
  PlanOptions o{.world_size = 1, .seed = 8, .partitions = 64, .shuffle_window_blocks = 2};
  EXPECT_EQ(MustPlan(layout, o).ranks[0].sequence, GlobalOrder(layout, o));
}

TEST_F(PartitionPlanTest, SurplusTailsGoToDeficitRanksInRankOrder) {
  const auto layout = Layout({3, 3, 2});  // N = 8
  PlanOptions o{.world_size = 2, .strategy = Strategy::kRange, .seed = 5};
  o.ranges = {{0, 6}, {6, 8}};
  const auto g = GlobalOrder(layout, o);
  std::vector<std::uint64_t> low, high;
  for (auto s : g) (s < 6 ? low : high).push_back(s);
  const auto plan = MustPlan(layout, o);
  EXPECT_EQ(plan.target, 4u);
  EXPECT_EQ(plan.ranks[0].sequence, std::vector<std::uint64_t>(low.begin(), low.begin() + 4));
  std::vector<std::uint64_t> expected1 = high;
  expected1.insert(expected1.end(), low.begin() + 4, low.end());
  EXPECT_EQ(plan.ranks[1].sequence, expected1);
  EXPECT_EQ(plan.ranks[1].received_samples, 2u);
}

TEST_F(PartitionPlanTest, DropPolicyHandsOutSurplusThenSkipsTheRest) {
  const auto layout = Layout({3, 3, 2});  // N = 8, W = 3: T = 2, two samples dropped
  PlanOptions o{
      .world_size = 3, .strategy = Strategy::kRange, .drop_policy = DropPolicy::kDrop, .seed = 5};
  o.ranges = {{0, 6}, {6, 7}, {7, 8}};
  const auto g = GlobalOrder(layout, o);
  std::vector<std::uint64_t> low;
  for (auto s : g) {
    if (s < 6) low.push_back(s);
  }
  const auto plan = MustPlan(layout, o);
  EXPECT_EQ(plan.dropped_samples, 2u);
  EXPECT_EQ(plan.ranks[0].sequence, std::vector<std::uint64_t>(low.begin(), low.begin() + 2));
  EXPECT_EQ(plan.ranks[1].sequence, (std::vector<std::uint64_t>{6, low[2]}));
  EXPECT_EQ(plan.ranks[2].sequence, (std::vector<std::uint64_t>{7, low[3]}));
}

TEST_F(PartitionPlanTest, PadFillsFromTheStartOfTheGlobalOrderWrapping) {
  const auto layout = Layout({2, 1});  // N = 3 < W = 7: T = 1
  PlanOptions o{.world_size = 7, .seed = 1};
  const auto g = GlobalOrder(layout, o);
  const auto plan = MustPlan(layout, o);
  std::vector<std::uint64_t> padding;
  std::multiset<std::uint64_t> all;
  for (const auto& r : plan.ranks) {
    ASSERT_EQ(r.sequence.size(), 1u);
    all.insert(r.sequence[0]);
    if (r.padding_samples) padding.push_back(r.sequence[0]);
  }
  EXPECT_EQ(padding, (std::vector<std::uint64_t>{g[0], g[1], g[2], g[0]}));
  for (std::uint64_t s = 0; s < 3; ++s) EXPECT_GE(all.count(s), 2u);
}

TEST_F(PartitionPlanTest, StratifiedKeepsEveryClassWithinOneOfIdeal) {
  const auto layout = UnevenLayout();
  std::vector<std::int64_t> labels(1009);
  for (std::size_t i = 0; i < labels.size(); ++i)
    labels[i] = (i * 7919) % 100 < 60 ? 3 : (i % 4) - 1;
  std::map<std::int64_t, double> totals;
  for (auto l : labels) ++totals[l];
  for (std::uint32_t w : {1u, 2u, 3u, 4u, 7u}) {
    const auto plan =
        MustPlan(layout, {.world_size = w, .strategy = Strategy::kStratified}, labels);
    for (const auto& r : plan.ranks) {
      std::map<std::int64_t, double> count;
      for (std::size_t i = 0; i < r.sequence.size() - r.padding_samples; ++i) {
        ++count[labels[r.sequence[i]]];
      }
      for (const auto& [label, total] : totals) {
        EXPECT_LE(std::abs(count[label] - total / w), 1.0)
            << "W " << w << " rank " << r.rank << " class " << label;
      }
      EXPECT_EQ(r.received_samples, 0u) << "totals already within one";
    }
  }
}

TEST_F(PartitionPlanTest, StratifiedReportsItsDecodeAmplification) {
  const auto layout = UnevenLayout();
  std::vector<std::int64_t> labels(1009);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = i % 3;
  const auto strat = MustPlan(layout, {.world_size = 4, .strategy = Strategy::kStratified}, labels);
  const auto rr = MustPlan(layout, {.world_size = 4, .partitions = 40});
  std::uint64_t strat_blocks = 0, rr_blocks = 0;
  for (const auto& r : strat.ranks) strat_blocks += r.blocks_touched;
  for (const auto& r : rr.ranks) rr_blocks += r.blocks_touched;
  EXPECT_GT(strat_blocks, 2 * rr_blocks);
}

TEST_F(PartitionPlanTest, AdaptiveSplitsInProportionToThroughput) {
  const auto layout = Layout(std::vector<std::uint32_t>(64, 10));
  PlanOptions o{.world_size = 2, .strategy = Strategy::kAdaptive, .partitions = 64};
  o.throughputs = {1.0, 3.0};
  const auto plan = MustPlan(layout, o);
  EXPECT_NEAR(static_cast<double>(plan.ranks[0].sequence.size()), 160.0, 10.0);
  EXPECT_NEAR(static_cast<double>(plan.ranks[1].sequence.size()), 480.0, 10.0);
  o.throughputs.clear();
  const auto equal = MustPlan(layout, o);
  EXPECT_EQ(equal.ranks[0].sequence.size(), 320u);
  // Only the ratios count, at any scale: 1e308 twice summed to inf and rank 0 got everything.
  o.throughputs = {1e308, 1e308};
  EXPECT_EQ(MustPlan(layout, o).ranks[0].sequence.size(), 320u);
  o.throughputs = {1e-300, 3e-300};
  EXPECT_NEAR(static_cast<double>(MustPlan(layout, o).ranks[0].sequence.size()), 160.0, 10.0);
}

TEST_F(PartitionPlanTest, DigestCoversWhatTheSequencesDependOn) {
  const auto layout = UnevenLayout();
  const PlanOptions base{.world_size = 4, .rank = 1, .seed = 3, .partitions = 16};
  const auto d = PlanDigest(layout, base);
  auto with = [&](auto change) {
    PlanOptions o = base;
    change(o);
    return PlanDigest(layout, o);
  };
  EXPECT_EQ(d, with([](PlanOptions& o) { o.rank = 2; }));
  EXPECT_EQ(d, with([](PlanOptions& o) { o.epoch = 9; }));
  EXPECT_NE(d, with([](PlanOptions& o) { o.world_size = 5; }));
  EXPECT_NE(d, with([](PlanOptions& o) { o.seed = 4; }));
  EXPECT_NE(d, with([](PlanOptions& o) { o.partitions = 17; }));
  EXPECT_NE(d, with([](PlanOptions& o) { o.strategy = Strategy::kHash; }));
  EXPECT_NE(d, PlanDigest(Layout({1009}), base));
}

struct InvalidCase {
  const char* name;
  PlanOptions options;
  bool with_labels;
  const char* expected_text;
};

class PartitionPlanValidationTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(PartitionPlanValidationTest, RejectsNamingTheField) {
  const auto layout = Layout({4, 4, 2});  // N = 10
  std::vector<std::int64_t> labels(10, 1);
  const auto& c = GetParam();
  auto plan = BuildPartitionPlan(
      layout,
      c.with_labels ? std::span<const std::int64_t>(labels) : std::span<const std::int64_t>(),
      c.options);
  ASSERT_FALSE(plan.ok());
  EXPECT_TRUE(plan.status().IsInvalidArgument());
  EXPECT_NE(plan.status().message().find(c.expected_text), std::string::npos)
      << plan.status().message();
}

PlanOptions RangeOptions(std::vector<SampleRange> ranges) {
  return {.world_size = static_cast<std::uint32_t>(ranges.size()),
          .strategy = Strategy::kRange,
          .ranges = std::move(ranges)};
}

INSTANTIATE_TEST_SUITE_P(
    Table, PartitionPlanValidationTest,
    ::testing::Values(
        InvalidCase{"world_size_zero", {.world_size = 0}, false, "world_size"},
        InvalidCase{"rank_too_big", {.world_size = 4, .rank = 4}, false, "rank 4"},
        InvalidCase{"partitions_zero", {.partitions = 0}, false, "partitions"},
        InvalidCase{"partitions_past_bound",
                    {.partitions = (1u << 20) + 1},
                    false,
                    "partitions must be at most 1048576"},
        InvalidCase{"window_zero", {.shuffle_window_blocks = 0}, false, "shuffle_window_blocks"},
        InvalidCase{"ranges_overlap", RangeOptions({{0, 6}, {5, 10}}), false, "overlaps"},
        InvalidCase{"ranges_gap", RangeOptions({{0, 4}, {5, 10}}), false, "[4, 5)"},
        InvalidCase{"ranges_empty", RangeOptions({{0, 10}, {10, 10}}), false, "empty"},
        InvalidCase{"ranges_beyond_n", RangeOptions({{0, 5}, {5, 11}}), false, "exceeds"},
        InvalidCase{"ranges_short", RangeOptions({{0, 5}, {5, 9}}), false, "[9, 10)"},
        InvalidCase{"ranges_count",
                    {.world_size = 3, .strategy = Strategy::kRange, .ranges = {{0, 10}}},
                    false,
                    "one range per rank"},
        InvalidCase{"ranges_wrong_strategy", {.ranges = {{0, 10}}}, false, "ranges"},
        InvalidCase{"stratified_no_labels", {.strategy = Strategy::kStratified}, false, "label"},
        InvalidCase{"throughputs_count",
                    {.world_size = 2, .strategy = Strategy::kAdaptive, .throughputs = {1.0}},
                    false,
                    "adaptive_throughputs"},
        InvalidCase{"throughputs_negative",
                    {.world_size = 2, .strategy = Strategy::kAdaptive, .throughputs = {1.0, -1.0}},
                    false,
                    "adaptive_throughputs"}),
    [](const ::testing::TestParamInfo<InvalidCase>& info) { return info.param.name; });

}  // namespace
}  // namespace shardmesh::loader
