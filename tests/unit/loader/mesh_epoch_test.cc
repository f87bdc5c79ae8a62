#include "shardmesh/loader/mesh_epoch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "format_test_util.h"
#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/mesh_placement.h"
#include "shardmesh/loader/synthetic.h"

namespace shardmesh::loader {
namespace {

class MeshEpochTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SyntheticOptions o;
    o.out_dir = tmp_.Sub("ds");
    o.samples = 20000;
    o.shards = 16;
    o.feature_dim = 16;
    o.seq_len = 4;
    o.block_bytes = 16 * 1024;
    ASSERT_TRUE(GenerateSyntheticDataset(o).ok());
    auto ds = Dataset::Open(o.out_dir);
    ASSERT_TRUE(ds.ok());
    auto c = DatasetCatalog::FromDataset(**ds);
    ASSERT_TRUE(c.ok());
    catalog_ = *c;
  }

  EpochOrder Order(std::uint64_t epoch) const {
    EpochOrderOptions eo;
    eo.seed = 5;
    eo.epoch = epoch;
    eo.partitions = 64;
    return EpochOrder::Build(catalog_->layout(), eo).value();
  }

  testing::TempDir tmp_;
  std::shared_ptr<const DatasetCatalog> catalog_;
  const std::vector<std::string> members_{"w0", "w1", "w2", "w3"};
};

TEST_F(MeshEpochTest, EveryPreferenceListIsAPermutationOfTheMembers) {
  for (auto strategy : {MeshStrategy::kConsistentHash, MeshStrategy::kGlobalShuffle}) {
    MeshEpochInputs in;
    in.strategy = strategy;
    const auto pref = BuildPreferences(*catalog_, Order(0), members_, in);
    ASSERT_EQ(pref.size(), 64u);
    for (const auto& list : pref) {
      std::set<std::uint16_t> seen(list.begin(), list.end());
      EXPECT_EQ(list.size(), members_.size());
      EXPECT_EQ(seen.size(), members_.size());
    }
  }
}

TEST_F(MeshEpochTest, ConsistentHashOwnersHoldTheirPartitionsBlocksAndLoadIsBounded) {
  MeshEpochInputs in;
  in.replication = 2;
  const EpochOrder order = Order(0);
  const auto pref = BuildPreferences(*catalog_, order, members_, in);
  const auto ring = mesh::HashRing::Build(members_, in.ring);
  std::uint64_t local = 0, total = 0;
  std::vector<int> load(members_.size(), 0);
  for (std::uint32_t p = 0; p < pref.size(); ++p) {
    const std::string& owner = members_[pref[p][0]];
    ++load[pref[p][0]];
    for (std::uint32_t b : order.PartitionBlocks(p)) {
      const auto owners = ring.Owners(ShardRingKey(catalog_->id(), catalog_->blocks()[b].shard), 2);
      local += std::find(owners.begin(), owners.end(), owner) != owners.end();
      ++total;
    }
  }
  EXPECT_GE(static_cast<double>(local) / total, 0.9) << local << " of " << total;
  const int cap = static_cast<int>(std::ceil(1.25 * 64 / 4));
  for (int l : load) EXPECT_LE(l, cap);
}

TEST_F(MeshEpochTest, GlobalShuffleDealsPartitionsAnewEachEpoch) {
  MeshEpochInputs in;
  in.strategy = MeshStrategy::kGlobalShuffle;
  const auto e0 = BuildPreferences(*catalog_, Order(0), members_, in);
  in.epoch = 1;
  const auto e1 = BuildPreferences(*catalog_, Order(1), members_, in);
  int moved = 0;
  for (std::size_t p = 0; p < e0.size(); ++p) moved += e0[p][0] != e1[p][0];
  EXPECT_GT(moved, 16);
}

TEST_F(MeshEpochTest, SameInputsGiveTheSameListsOnEveryWorker) {
  MeshEpochInputs in;
  EXPECT_EQ(BuildPreferences(*catalog_, Order(3), members_, in),
            BuildPreferences(*catalog_, Order(3), members_, in));
}

TEST(MeshStrategyTest, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(ParseMeshStrategy("global-shuffle").value(), MeshStrategy::kGlobalShuffle);
  EXPECT_EQ(MeshStrategyName(ParseMeshStrategy("consistent-hash").value()), "consistent-hash");
  auto bad = ParseMeshStrategy("random");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("global-shuffle"), std::string::npos);
}

}  // namespace
}  // namespace shardmesh::loader
