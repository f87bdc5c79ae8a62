// Damage to shard files and manifests is caught at open or read, with a Corruption (or
// NotFound) error naming the file, and the block where there is one.
#include <gtest/gtest.h>

#include <cstring>

#include "format_test_util.h"
#include "shardmesh/common/hash.h"
#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/shard_reader.h"

namespace shardmesh::loader {
namespace {

using testing::TempDir;

class ShardFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.Sub("ds");
    manifest_ = testing::WriteAllTypesDataset(dir_, 250, /*samples_per_shard=*/100);
    ASSERT_EQ(manifest_.shards.size(), 3u);
    shard1_ = dir_ + "/" + manifest_.shards[1].file;
    auto reader = ShardReader::Open(shard1_);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    footer_ = (*reader)->footer();
    ASSERT_GE(footer_.blocks.size(), 3u);
  }

  static bool Mentions(const Status& s, const std::string& what) {
    return s.message().find(what) != std::string::npos;
  }

  TempDir tmp_;
  std::string dir_;
  std::string shard1_;
  Manifest manifest_;
  ShardFooter footer_;
};

TEST_F(ShardFileTest, IntactDatasetOpensAndVerifies) {
  auto ds = Dataset::Open(dir_, {.verify_file_checksums = true});
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_TRUE((*ds)->VerifyAll().ok());
}

TEST_F(ShardFileTest, FlippedByteInABlockFailsThatBlockNamingFileAndBlock) {
  const ShardBlock& b = footer_.blocks[2];
  testing::FlipByte(shard1_, b.offset + b.compressed_size / 2);
  // The footer is intact, so the dataset still opens; the damage shows when the block is read.
  auto ds = Dataset::Open(dir_);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  const std::uint32_t global = static_cast<std::uint32_t>(manifest_.shards[0].num_blocks) + 2;
  auto block = (*ds)->ReadBlock(global);
  ASSERT_FALSE(block.ok());
  EXPECT_TRUE(block.status().IsCorruption());
  EXPECT_TRUE(Mentions(block.status(), "shard-00001.smd block 2")) << block.status().message();
  // Neighbouring blocks are unaffected.
  EXPECT_TRUE((*ds)->ReadBlock(global - 1).ok());
  const Status verify = (*ds)->VerifyAll();
  EXPECT_TRUE(verify.IsCorruption());
  EXPECT_TRUE(Mentions(verify, "shard-00001.smd block 2")) << verify.message();
  EXPECT_FALSE(Dataset::Open(dir_, {.verify_file_checksums = true}).ok());
}

TEST_F(ShardFileTest, FlippedByteInTheFooterFailsOpenNamingTheFile) {
  const std::uint64_t size = std::filesystem::file_size(shard1_);
  testing::FlipByte(shard1_, size - kShardTrailerSize - 3);
  auto ds = Dataset::Open(dir_);
  ASSERT_FALSE(ds.ok());
  EXPECT_TRUE(ds.status().IsCorruption());
  EXPECT_TRUE(Mentions(ds.status(), "shard-00001.smd")) << ds.status().message();
  EXPECT_TRUE(Mentions(ds.status(), "footer checksum")) << ds.status().message();
}

TEST_F(ShardFileTest, TruncatedFileFailsOpenAtEveryLength) {
  const std::string original = testing::ReadAll(shard1_);
  const std::uint64_t size = original.size();
  for (std::uint64_t len :
       {std::uint64_t{0}, std::uint64_t{5}, std::uint64_t{16}, std::uint64_t{39}, size / 2,
        size - kShardTrailerSize, size - 8, size - 1}) {
    SCOPED_TRACE(len);
    testing::WriteAll(shard1_, original.substr(0, len));
    auto ds = Dataset::Open(dir_);
    ASSERT_FALSE(ds.ok());
    EXPECT_TRUE(ds.status().IsCorruption()) << ds.status().ToString();
    EXPECT_TRUE(Mentions(ds.status(), "shard-00001.smd")) << ds.status().message();
  }
}

TEST_F(ShardFileTest, WrongMagicIsRejected) {
  testing::FlipByte(shard1_, 0);
  auto ds = Dataset::Open(dir_);
  ASSERT_FALSE(ds.ok());
  EXPECT_TRUE(ds.status().IsCorruption());
  EXPECT_TRUE(Mentions(ds.status(), "shard-00001.smd: bad magic")) << ds.status().message();
}

TEST_F(ShardFileTest, WrongVersionIsRejected) {
  std::string data = testing::ReadAll(shard1_);
  data[8] = 2;  // u32 LE version
  testing::WriteAll(shard1_, data);
  auto ds = Dataset::Open(dir_);
  ASSERT_FALSE(ds.ok());
  EXPECT_TRUE(Mentions(ds.status(), "shard-00001.smd")) << ds.status().message();
  EXPECT_TRUE(Mentions(ds.status(), "version 2")) << ds.status().message();
}

TEST_F(ShardFileTest, MissingShardFileIsNotFoundNamingIt) {
  std::filesystem::remove(shard1_);
  auto ds = Dataset::Open(dir_);
  ASSERT_FALSE(ds.ok());
  EXPECT_TRUE(ds.status().IsNotFound()) << ds.status().ToString();
  EXPECT_TRUE(Mentions(ds.status(), "shard-00001.smd")) << ds.status().message();
}

TEST_F(ShardFileTest, ManifestSampleCountDisagreeingWithShardIsRejected) {
  Manifest m = manifest_;
  m.shards[1].num_samples += 1;
  m.shards[2].first_sample += 1;
  m.num_samples += 1;
  ASSERT_TRUE(m.Store(dir_).ok());
  auto ds = Dataset::Open(dir_);
  ASSERT_FALSE(ds.ok());
  EXPECT_TRUE(ds.status().IsCorruption());
  EXPECT_TRUE(Mentions(ds.status(), "shard-00001.smd")) << ds.status().message();
  EXPECT_TRUE(Mentions(ds.status(), "samples")) << ds.status().message();
}

TEST_F(ShardFileTest, ShardSwappedFromAnotherDatasetIsRejected) {
  TempDir other;
  const std::string other_dir = other.Sub("ds");
  testing::WriteAllTypesDataset(other_dir, 250, 100, 4096);
  std::filesystem::copy_file(other_dir + "/shard-00001.smd", shard1_,
                             std::filesystem::copy_options::overwrite_existing);
  auto ds = Dataset::Open(dir_);
  ASSERT_FALSE(ds.ok());
  EXPECT_TRUE(Mentions(ds.status(), "shard-00001.smd")) << ds.status().message();
}

TEST_F(ShardFileTest, BlockRangeOutsideTheFileIsRejected) {
  // Rewrite the footer with a block pointing past the footer start, fixing the checksums, so
  // only the range check can catch it.
  std::string data = testing::ReadAll(shard1_);
  ShardFooter bad = footer_;
  bad.blocks.back().offset = data.size();
  const std::string footer = EncodeShardFooter(bad);
  const std::uint64_t old_footer_size = data.size() - kShardTrailerSize -
                                        footer_.blocks.back().offset -
                                        footer_.blocks.back().compressed_size;
  std::string image = data.substr(0, data.size() - kShardTrailerSize - old_footer_size) + footer;
  std::string trailer(kShardTrailerSize, '\0');
  const std::uint64_t len = footer.size(), sum = Hash64(footer);
  std::memcpy(trailer.data(), &len, 8);
  std::memcpy(trailer.data() + 8, &sum, 8);
  std::memcpy(trailer.data() + 16, kShardTrailerMagic.data(), 8);
  image += trailer;
  auto parsed = ParseShardImage(AsBytes(image), "img");
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(Mentions(parsed.status(), "img block " + std::to_string(bad.blocks.size() - 1)))
      << parsed.status().message();
}

TEST_F(ShardFileTest, ParseShardImageAcceptsAnIntactFile) {
  const std::string data = testing::ReadAll(shard1_);
  auto parsed = ParseShardImage(AsBytes(data), "img");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->num_samples, 100u);
  EXPECT_EQ(parsed->labels.size(), 100u);
  EXPECT_EQ(parsed->blocks.size(), footer_.blocks.size());
}

}  // namespace
}  // namespace shardmesh::loader
