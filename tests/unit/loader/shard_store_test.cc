#include "shardmesh/loader/shard_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "format_test_util.h"
#include "shardmesh/common/hash.h"
#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/dataset_catalog.h"
#include "shardmesh/loader/synthetic.h"

namespace shardmesh::loader {
namespace {

class ShardStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SyntheticOptions o;
    o.out_dir = tmp_.Sub("source");
    o.samples = 600;
    o.shards = 3;
    o.feature_dim = 8;
    o.seq_len = 4;
    o.block_bytes = 4096;
    ASSERT_TRUE(GenerateSyntheticDataset(o).ok());
    auto ds = Dataset::Open(o.out_dir);
    ASSERT_TRUE(ds.ok());
    dataset_ = *ds;
    auto c = DatasetCatalog::FromDataset(*dataset_);
    ASSERT_TRUE(c.ok()) << c.status().message();
    catalog_ = *c;
  }

  std::unique_ptr<ShardStore> OpenStore(const std::string& name, bool with_source) {
    ShardStoreOptions so;
    so.data_dir = tmp_.Sub(name);
    if (with_source) so.source_dir = tmp_.Sub("source");
    auto s = ShardStore::Open(so, catalog_);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  testing::TempDir tmp_;
  std::shared_ptr<const Dataset> dataset_;
  std::shared_ptr<const DatasetCatalog> catalog_;
};

TEST_F(ShardStoreTest, CatalogRoundTripsAndDescribesTheSameBlocks) {
  auto back = DatasetCatalog::Decode(AsBytes(catalog_->encoded()), "test");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ((*back)->id(), catalog_->id());
  ASSERT_EQ((*back)->blocks().size(), dataset_->blocks().size());
  for (std::size_t b = 0; b < dataset_->blocks().size(); ++b) {
    EXPECT_EQ((*back)->blocks()[b].checksum, dataset_->blocks()[b].checksum);
    EXPECT_EQ((*back)->blocks()[b].first_sample, dataset_->blocks()[b].first_sample);
  }
  EXPECT_EQ((*back)->layout().digest(), catalog_->layout().digest());
}

TEST_F(ShardStoreTest, CatalogDecodeRejectsDamageNamingTheShard) {
  std::string bytes = catalog_->encoded();
  bytes[bytes.size() - 3] ^= 1;  // inside the last shard's footer
  auto bad = DatasetCatalog::Decode(AsBytes(bytes), "peer w1");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("shard-00002.smd"), std::string::npos)
      << bad.status().message();
  EXPECT_FALSE(DatasetCatalog::Decode(AsBytes(catalog_->encoded().substr(0, 30)), "x").ok());
}

TEST_F(ShardStoreTest, InstalledCopyServesBlocksChunksAndTheCatalog) {
  auto store = OpenStore("d", /*with_source=*/true);
  ASSERT_TRUE(store);
  EXPECT_FALSE(store->Has(1));
  ASSERT_TRUE(store->InstallFromSource(1).ok());
  EXPECT_TRUE(store->Has(1));
  EXPECT_EQ(store->HeldShards(), std::vector<std::uint32_t>{1});
  EXPECT_EQ(store->bytes_stored(), catalog_->manifest().shards[1].bytes);
  const std::uint32_t block = catalog_->first_block(1);
  auto blob = store->Get(ShardStore::BlockBlobName(catalog_->id(), block));
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(blob->checksum, Hash64(blob->data.view()));
  EXPECT_EQ(blob->checksum, catalog_->blocks()[block].checksum);
  auto chunk = store->Get(ShardStore::ChunkBlobName(catalog_->id(), 1, 0));
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(chunk->data.size(), std::min<std::uint64_t>(ShardStore::kChunkBytes,
                                                        catalog_->manifest().shards[1].bytes));
  EXPECT_TRUE(store->Get("catalog").ok());
  EXPECT_EQ(store->Get("nonsense").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Get(catalog_->id() + "/b/999999").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ShardStoreTest, WithoutSourceOrCopyEveryReadIsNotFound) {
  auto store = OpenStore("d", /*with_source=*/false);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->ReadBlock(0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Get(ShardStore::BlockBlobName(catalog_->id(), 0)).status().code(),
            StatusCode::kNotFound);
}

TEST_F(ShardStoreTest, DamagedBlockIsReportedThenRepairedInPlace) {
  auto store = OpenStore("d", true);
  ASSERT_TRUE(store->InstallFromSource(0).ok());
  const std::string path = store->dir() + "/" + catalog_->manifest().shards[0].file;
  testing::FlipByte(path, 20);  // inside block 0
  auto damaged = store->ReadBlock(0);
  ASSERT_EQ(damaged.status().code(), StatusCode::kCorruption);
  EXPECT_NE(damaged.status().message().find("shard-00000.smd"), std::string::npos);
  auto good = store->ReadSourceBlock(0);
  ASSERT_TRUE(good.ok());
  EXPECT_FALSE(store->RepairBlock(0, AsBytes(std::string(good->size(), 'x'))).ok());
  ASSERT_TRUE(store->RepairBlock(0, good->view()).ok());
  EXPECT_TRUE(store->ReadBlock(0).ok());
}

TEST_F(ShardStoreTest, ReopenAdoptsVerifiedCopiesAndDropsDamagedOnesAndPartFiles) {
  {
    auto store = OpenStore("d", true);
    ASSERT_TRUE(store->InstallFromSource(0).ok());
    ASSERT_TRUE(store->InstallFromSource(2).ok());
    testing::WriteAll(store->PartPath(1), "half a pull");
    testing::FlipByte(store->dir() + "/" + catalog_->manifest().shards[2].file, 20);
  }
  auto store = OpenStore("d", false);
  EXPECT_EQ(store->HeldShards(), std::vector<std::uint32_t>{0});
  EXPECT_FALSE(std::filesystem::exists(store->PartPath(1)));
}

// A second live store on the same directory (two workers or loaders given one data_dir) is
// refused: its start-up would delete the first one's pulls in progress. Closing the first
// frees the directory.
TEST_F(ShardStoreTest, ASecondStoreOnTheSameDirectoryIsRefusedWhileTheFirstIsOpen) {
  auto first = OpenStore("d", false);
  ASSERT_NE(first, nullptr);
  ShardStoreOptions so;
  so.data_dir = tmp_.Sub("d");
  auto second = ShardStore::Open(so, catalog_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition) << second.status().ToString();
  EXPECT_NE(second.status().message().find("in use"), std::string::npos);
  first.reset();
  EXPECT_TRUE(ShardStore::Open(so, catalog_).ok());
}

TEST_F(ShardStoreTest, PulledFileIsInstalledOnlyWhenItsChecksumMatches) {
  auto store = OpenStore("d", false);
  const std::string source_file = tmp_.Sub("source") + "/" + catalog_->manifest().shards[1].file;
  std::string bytes = testing::ReadAll(source_file);
  bytes[bytes.size() / 2] ^= 1;
  testing::WriteAll(store->PartPath(1), bytes);
  auto bad = store->InstallPulled(1);
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(store->Has(1));
  EXPECT_FALSE(std::filesystem::exists(store->PartPath(1)));
  testing::WriteAll(store->PartPath(1), testing::ReadAll(source_file));
  ASSERT_TRUE(store->InstallPulled(1).ok());
  EXPECT_TRUE(store->Has(1));
}

}  // namespace
}  // namespace shardmesh::loader
