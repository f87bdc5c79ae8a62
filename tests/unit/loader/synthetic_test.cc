// Synthetic generator: deterministic output, requested shape, plausible distributions.
#include "shardmesh/loader/synthetic.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "format_test_util.h"
#include "shardmesh/loader/dataset.h"

namespace shardmesh::loader {
namespace {

class SyntheticTest : public ::testing::Test {
 protected:
  SyntheticOptions Options(const std::string& name, std::uint64_t seed) {
    SyntheticOptions o;
    o.out_dir = tmp_.Sub(name);
    o.samples = 2000;
    o.shards = 3;
    o.feature_dim = 16;
    o.seq_len = 32;
    o.classes = 5;
    o.seed = seed;
    o.block_bytes = 16 * 1024;
    return o;
  }
  static std::map<std::string, std::string> Files(const std::string& dir) {
    std::map<std::string, std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      files[e.path().filename().string()] = testing::ReadAll(e.path().string());
    }
    return files;
  }
  testing::TempDir tmp_;
};

TEST_F(SyntheticTest, SameSeedGivesIdenticalFiles) {
  ASSERT_TRUE(GenerateSyntheticDataset(Options("a", 42)).ok());
  ASSERT_TRUE(GenerateSyntheticDataset(Options("b", 42)).ok());
  const auto a = Files(tmp_.Sub("a")), b = Files(tmp_.Sub("b"));
  ASSERT_EQ(a.size(), 4u);  // manifest + 3 shards
  EXPECT_EQ(a, b);
}

TEST_F(SyntheticTest, DifferentSeedGivesDifferentData) {
  ASSERT_TRUE(GenerateSyntheticDataset(Options("a", 1)).ok());
  ASSERT_TRUE(GenerateSyntheticDataset(Options("b", 2)).ok());
  const auto a = Files(tmp_.Sub("a")), b = Files(tmp_.Sub("b"));
  EXPECT_NE(a.at("shard-00000.smd"), b.at("shard-00000.smd"));
  EXPECT_NE(a.at("shard-00002.smd"), b.at("shard-00002.smd"));
}

TEST_F(SyntheticTest, HasRequestedShapeAndSkewedDistributions) {
  auto o = Options("a", 7);
  o.samples = 4001;
  ASSERT_TRUE(GenerateSyntheticDataset(o).ok());
  auto ds = Dataset::Open(o.out_dir, {.verify_file_checksums = true});
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_EQ((*ds)->num_samples(), 4001u);
  ASSERT_EQ((*ds)->num_shards(), 3u);
  EXPECT_EQ((*ds)->manifest().shards[0].num_samples, 1334u);  // 4001 = 1334 + 1334 + 1333
  EXPECT_EQ((*ds)->manifest().shards[2].num_samples, 1333u);
  const auto& hist = (*ds)->manifest().label_histogram;
  ASSERT_EQ(hist.size(), 5u);
  EXPECT_GT(hist.at(0), hist.at(4));  // class 0 is the most frequent
  std::uint64_t token_zero = 0, tokens = 0;
  for (std::uint32_t b = 0; b < (*ds)->blocks().size(); ++b) {
    auto block = (*ds)->ReadBlock(b);
    ASSERT_TRUE(block.ok()) << block.status().ToString();
    for (std::size_t i = 0; i < (*block)->num_samples(); ++i) {
      const SampleView s = (*block)->sample(i);
      const TensorView t = s.field("tokens").AsTensor();
      ASSERT_EQ(t.num_elements(), 32u);
      for (std::size_t k = 0; k < t.num_elements(); ++k) {
        const auto id = t.At<std::uint32_t>(k);
        ASSERT_LT(id, o.vocab_size);
        token_zero += id == 0;
        ++tokens;
      }
      EXPECT_EQ(s.field("features").AsTensor().num_elements(), 16u);
      EXPECT_EQ(s.field("label").AsInt64(), (*ds)->labels()[s.global_index()]);
    }
  }
  // Zipf(1) over 32000 ids gives id 0 about 1/H(32000) ~ 9% of the mass.
  const double share = static_cast<double>(token_zero) / static_cast<double>(tokens);
  EXPECT_GT(share, 0.07);
  EXPECT_LT(share, 0.11);
}

TEST_F(SyntheticTest, RejectsImpossibleOptions) {
  auto o = Options("a", 1);
  o.samples = 2;
  o.shards = 3;
  EXPECT_TRUE(GenerateSyntheticDataset(o).IsInvalidArgument());
  o = Options("a", 1);
  o.feature_dim = 0;
  EXPECT_TRUE(GenerateSyntheticDataset(o).IsInvalidArgument());
}

}  // namespace
}  // namespace shardmesh::loader
