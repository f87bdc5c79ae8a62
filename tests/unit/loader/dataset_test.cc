// Dataset: open, block index, labels, reads (also concurrent), decode of peer bytes.
#include "shardmesh/loader/dataset.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "format_test_util.h"
#include "shardmesh/common/file.h"
#include "shardmesh/loader/block_codec.h"
#include "shardmesh/loader/dataset_writer.h"
#include "shardmesh/loader/shard_writer.h"

namespace shardmesh::loader {
namespace {

class DatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.Sub("ds");
    manifest_ = testing::WriteAllTypesDataset(dir_, kSamples, 120, 3000);
    auto ds = Dataset::Open(dir_);
    ASSERT_TRUE(ds.ok()) << ds.status().ToString();
    ds_ = *ds;
  }
  static constexpr std::uint64_t kSamples = 500;
  testing::TempDir tmp_;
  std::string dir_;
  Manifest manifest_;
  std::shared_ptr<const Dataset> ds_;
};

TEST_F(DatasetTest, BlocksCoverEverySampleContiguouslyInShardOrder) {
  EXPECT_EQ(ds_->num_samples(), kSamples);
  EXPECT_EQ(ds_->num_shards(), 5u);
  ASSERT_GT(ds_->blocks().size(), ds_->num_shards());
  std::uint64_t next = 0;
  std::uint32_t prev_shard = 0, prev_index = 0;
  for (std::size_t i = 0; i < ds_->blocks().size(); ++i) {
    const BlockInfo& b = ds_->blocks()[i];
    EXPECT_EQ(b.first_sample, next);
    if (i > 0) {
      EXPECT_TRUE(b.shard == prev_shard ? b.index_in_shard == prev_index + 1
                                        : b.shard == prev_shard + 1 && b.index_in_shard == 0);
    }
    prev_shard = b.shard;
    prev_index = b.index_in_shard;
    next += b.num_samples;
  }
  EXPECT_EQ(next, kSamples);
}

TEST_F(DatasetTest, EverySampleReadsBackWithItsGlobalIndexAndValues) {
  std::uint64_t seen = 0;
  for (std::uint32_t b = 0; b < ds_->blocks().size(); ++b) {
    auto block = ds_->ReadBlock(b);
    ASSERT_TRUE(block.ok()) << block.status().ToString();
    for (std::size_t i = 0; i < (*block)->num_samples(); ++i) {
      const SampleView s = (*block)->sample(i);
      ASSERT_EQ(s.global_index(), seen);
      EXPECT_EQ(s.field("id").AsInt64(), testing::IdOf(seen));
      EXPECT_EQ(s.field("name").AsString(), testing::NameOf(seen));
      EXPECT_EQ(s.field("img").AsTensor().shape[0], testing::RowsOf(seen));
      ++seen;
    }
  }
  EXPECT_EQ(seen, kSamples);
}

TEST_F(DatasetTest, LabelsAndHistogramMatchWhatWasWritten) {
  ASSERT_EQ(ds_->labels().size(), kSamples);
  std::map<std::int64_t, std::uint64_t> histogram;
  for (std::uint64_t i = 0; i < kSamples; ++i) {
    EXPECT_EQ(ds_->labels()[i], testing::LabelOf(i));
    ++histogram[testing::LabelOf(i)];
  }
  EXPECT_EQ(ds_->manifest().label_histogram, histogram);
}

TEST_F(DatasetTest, BlockOfSampleFindsTheHoldingBlock) {
  for (std::uint64_t g = 0; g < kSamples; ++g) {
    const BlockInfo& b = ds_->blocks()[ds_->BlockOfSample(g)];
    EXPECT_LE(b.first_sample, g);
    EXPECT_LT(g, b.first_sample + b.num_samples);
  }
}

TEST_F(DatasetTest, DecodeBlockAcceptsCompressedBytesAndRejectsTamperedOnes) {
  const BlockInfo& info = ds_->blocks()[3];
  auto compressed = ds_->ReadCompressedBlock(3);
  ASSERT_TRUE(compressed.ok());
  EXPECT_EQ(compressed->size(), info.compressed_size);
  auto block = Dataset::DecodeBlock(ds_->schema(), info, *compressed, "peer 7 block 3");
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  EXPECT_EQ((*block)->first_sample(), info.first_sample);
  std::vector<std::uint8_t> tampered(compressed->data(), compressed->data() + compressed->size());
  tampered[tampered.size() / 3] ^= 1;
  auto bad = Dataset::DecodeBlock(ds_->schema(), info, SharedBytes::FromVector(tampered),
                                  "peer 7 block 3");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("peer 7 block 3", 0), 0u) << bad.status().message();
  // Bytes of another block do not pass as block 3.
  auto other = ds_->ReadCompressedBlock(4);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(Dataset::DecodeBlock(ds_->schema(), info, *other, "peer 7 block 3").ok());
}

TEST_F(DatasetTest, OutOfRangeBlockIsInvalidArgument) {
  const auto n = static_cast<std::uint32_t>(ds_->blocks().size());
  EXPECT_TRUE(ds_->ReadBlock(n).status().IsInvalidArgument());
  EXPECT_TRUE(ds_->ReadCompressedBlock(n + 100).status().IsInvalidArgument());
}

TEST_F(DatasetTest, ConcurrentReadsFromSeveralThreadsAllSucceed) {
  std::atomic<std::uint64_t> checksum{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (std::uint32_t b = static_cast<std::uint32_t>(t); b < ds_->blocks().size(); ++b) {
          auto block = ds_->ReadBlock(b);
          if (!block.ok()) {
            ++failures;
            continue;
          }
          checksum += static_cast<std::uint64_t>((*block)->sample(0).field("id").AsInt64());
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::uint64_t expected = 0;
  for (int t = 0; t < 4; ++t) {
    for (std::uint32_t b = static_cast<std::uint32_t>(t); b < ds_->blocks().size(); ++b) {
      expected += 5 * static_cast<std::uint64_t>(testing::IdOf(ds_->blocks()[b].first_sample));
    }
  }
  EXPECT_EQ(checksum.load(), expected);
}

TEST_F(DatasetTest, WriterRefusesToOverwriteAnExistingDatasetUnlessAsked) {
  auto again = DatasetWriter::Create(dir_, testing::AllTypesSchema());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  DatasetWriterOptions o;
  o.overwrite = true;
  EXPECT_TRUE(DatasetWriter::Create(dir_, testing::AllTypesSchema(), o).ok());
}

// Two writers into one directory mixed their shards (both reported success over a dataset
// that failed its checksums): the second is refused while the first lives.
TEST_F(DatasetTest, OneWriterPerDirectory) {
  const std::string dir = tmp_.Sub("locked");
  auto first = DatasetWriter::Create(dir, testing::AllTypesSchema());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = DatasetWriter::Create(dir, testing::AllTypesSchema());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("another writer"), std::string::npos);
  first->reset();
  EXPECT_TRUE(DatasetWriter::Create(dir, testing::AllTypesSchema()).ok());
}

// A child forked while a writer lived shared its locked directory and kept the lock after the
// writer was gone (a multiprocessing pool started by a sample generator); it no longer does.
TEST_F(DatasetTest, AProcessForkedWhileAWriterLivesDoesNotKeepItsLock) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer's runtime does not support a multi-threaded fork";
#endif
  const std::string dir = tmp_.Sub("forked");
  auto first = DatasetWriter::Create(dir, testing::AllTypesSchema());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // fork() has returned here, so the child's fork handlers have run: say so, then stay
    // alive holding whatever it still holds until the parent kills it.
    (void)!::write(ready[1], "x", 1);
    ::sleep(30);
    ::_exit(0);
  }
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ::close(ready[0]);
  ::close(ready[1]);
  first->reset();
  auto second = DatasetWriter::Create(dir, testing::AllTypesSchema());
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  EXPECT_TRUE(second.ok()) << second.status().ToString();
}

// Shards a killed writer left (no manifest) are removed by the next writer there, other files
// stay.
TEST_F(DatasetTest, ShardsOfAWriterThatNeverFinishedAreRemovedByTheNext) {
  const std::string dir = tmp_.Sub("orphans");
  ASSERT_TRUE(CreateDirectories(dir).ok());
  for (const char* name : {"shard-00007.smd", "shard-00003.smd.tmp", "notes.txt", "shard-x.smd"}) {
    std::ofstream(dir + "/" + name) << "x";
  }
  auto w = DatasetWriter::Create(dir, testing::AllTypesSchema());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(dir + "/shard-00007.smd"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/shard-00003.smd.tmp"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/notes.txt"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/shard-x.smd"));
}

TEST_F(DatasetTest, WriterRefusesToCloseAShardOrFinishInsideASample) {
  auto w = DatasetWriter::Create(tmp_.Sub("open-sample"), testing::AllTypesSchema());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  (*w)->BeginSample();
  (*w)->AddInt64(1);
  EXPECT_EQ((*w)->CloseShard().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*w)->Finish().status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*w)->num_samples(), 0u);
}

// Overwriting with fewer shards removes the old extra shard files (they sat beside the new
// manifest, tens of MB of them); shards of the new dataset stay.
TEST_F(DatasetTest, OverwriteRemovesTheOldShardsTheNewDatasetDoesNotList) {
  ASSERT_GT(manifest_.shards.size(), 2u);
  const std::string last = dir_ + "/" + manifest_.shards.back().file;
  ASSERT_TRUE(std::filesystem::exists(last));
  DatasetWriterOptions o;
  o.overwrite = true;
  o.samples_per_shard = 10;
  auto w = DatasetWriter::Create(dir_, testing::AllTypesSchema(), o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (std::uint64_t i = 0; i < 15; ++i) {  // two shards
    testing::AppendAllTypesSample(**w, i);
    ASSERT_TRUE((*w)->EndSample().ok());
  }
  auto m = (*w)->Finish();
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->shards.size(), 2u);
  std::size_t shard_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    if (entry.path().extension() == ".smd") ++shard_files;
    EXPECT_TRUE(entry.is_regular_file()) << entry.path() << ": staging left behind?";
  }
  EXPECT_EQ(shard_files, 2u);
  EXPECT_FALSE(std::filesystem::exists(last));
  auto ds = Dataset::Open(dir_);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_EQ((*ds)->num_samples(), 15u);
}

// An overwrite that never finishes (the input failed half-way: pack --force on a bad file)
// leaves the old dataset whole and readable, and no staged files behind.
TEST_F(DatasetTest, AbandonedOverwriteLeavesTheOldDatasetWhole) {
  const std::uint64_t before = manifest_.num_samples;
  {
    DatasetWriterOptions o;
    o.overwrite = true;
    o.samples_per_shard = 10;
    auto w = DatasetWriter::Create(dir_, testing::AllTypesSchema(), o);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (std::uint64_t i = 0; i < 35; ++i) {  // three finished shards, staged
      testing::AppendAllTypesSample(**w, i);
      ASSERT_TRUE((*w)->EndSample().ok());
    }
  }  // abandoned
  auto ds = Dataset::Open(dir_);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_EQ((*ds)->num_samples(), before);
  EXPECT_TRUE((*ds)->VerifyAll().ok());
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find(".shardmesh-staging"), std::string::npos)
        << entry.path();
  }
}

// A rejected sample's error gives its number in the dataset, not within the current block.
TEST_F(DatasetTest, WriterErrorsNumberSamplesAcrossBlocks) {
  DatasetWriterOptions o;
  o.target_block_bytes = 1000;  // a few samples per block
  auto w = DatasetWriter::Create(tmp_.Sub("numbered"), testing::AllTypesSchema(), o);
  ASSERT_TRUE(w.ok());
  for (std::uint64_t i = 0; i < 57; ++i) {
    testing::AppendAllTypesSample(**w, i);
    ASSERT_TRUE((*w)->EndSample().ok());
  }
  (*w)->BeginSample();
  (*w)->AddInt64(1);  // then too few values
  const Status s = (*w)->EndSample();
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("sample 57"), std::string::npos) << s.message();
}

TEST_F(DatasetTest, AbandonedWriterLeavesNoManifestAndNoPartialShard) {
  const std::string dir = tmp_.Sub("abandoned");
  {
    DatasetWriterOptions o;
    o.samples_per_shard = 50;
    o.target_block_bytes = 1000;
    auto w = DatasetWriter::Create(dir, testing::AllTypesSchema(), o);
    ASSERT_TRUE(w.ok());
    for (std::uint64_t i = 0; i < 70; ++i) {  // one finished shard, one half-written
      testing::AppendAllTypesSample(**w, i);
      ASSERT_TRUE((*w)->EndSample().ok());
    }
  }  // destroyed without Finish()
  EXPECT_FALSE(std::filesystem::exists(dir + "/manifest.json"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/shard-00001.smd.tmp"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/shard-00001.smd"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/shard-00000.smd"));  // finished, then removed
  EXPECT_TRUE(Dataset::Open(dir).status().IsNotFound());
}

// The footers hold every sample's label; a manifest histogram edited to disagree opens (it is
// only a summary) but fails verification, naming the manifest and the first label that differs.
TEST_F(DatasetTest, VerifyCatchesALabelHistogramThatDisagreesWithTheShards) {
  ASSERT_TRUE(ds_->VerifyAll().ok());
  const std::string path = dir_ + "/manifest.json";
  auto text = ReadFileToString(path);
  ASSERT_TRUE(text.ok());
  nlohmann::json j = nlohmann::json::parse(*text);
  const std::string first_label = j["label_histogram"].begin().key();
  j["label_histogram"][first_label] = j["label_histogram"][first_label].get<std::uint64_t>() + 1;
  testing::WriteAll(path, j.dump());
  auto edited = Dataset::Open(dir_);
  ASSERT_TRUE(edited.ok()) << edited.status().ToString();
  const Status verify = (*edited)->VerifyAll();
  EXPECT_TRUE(verify.IsCorruption()) << verify.ToString();
  EXPECT_NE(verify.message().find("manifest.json: label_histogram disagrees"), std::string::npos)
      << verify.message();
  EXPECT_NE(verify.message().find("label " + first_label + ": manifest"), std::string::npos)
      << verify.message();
}

// A block with a valid checksum whose samples do not match the schema (what a writer bug
// writes) passed VerifyAll, which only checked checksums; it decodes every block now.
TEST_F(DatasetTest, VerifyDecodesEveryBlockNotOnlyItsChecksum) {
  const std::string dir = tmp_.Sub("mismatched");
  const Schema declared =
      Schema::Create({{"x", FieldType::kInt64, DType::kFloat32, {}}}, std::nullopt).value();
  const Schema written =
      Schema::Create({{"x", FieldType::kString, DType::kFloat32, {}}}, std::nullopt).value();
  BlockEncoder encoder(written);
  encoder.BeginSample();
  encoder.AddString("not an int64");
  ASSERT_TRUE(encoder.EndSample().ok());
  auto block = encoder.Finish();
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  ASSERT_TRUE(CreateDirectories(dir).ok());
  auto shard = ShardWriter::Create(dir + "/" + ShardFileName(0), declared.Digest(), false);
  ASSERT_TRUE(shard.ok()) << shard.status().ToString();
  ASSERT_TRUE((*shard)->AddBlock(*block).ok());
  auto summary = (*shard)->Finish();
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  Manifest m;
  m.schema = declared;
  m.num_samples = 1;
  ShardEntry e;
  e.file = ShardFileName(0);
  e.num_samples = summary->num_samples;
  e.num_blocks = summary->num_blocks;
  e.bytes = summary->bytes;
  e.footer_checksum = summary->footer_checksum;
  e.file_checksum = summary->file_checksum;
  m.shards.push_back(e);
  ASSERT_TRUE(m.Store(dir).ok());
  auto ds = Dataset::Open(dir);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  const Status verify = (*ds)->VerifyAll();
  EXPECT_TRUE(verify.IsCorruption()) << verify.ToString();
  EXPECT_NE(verify.message().find("shard-00000.smd block 0"), std::string::npos)
      << verify.message();
}

TEST_F(DatasetTest, MissingManifestIsNotFound) {
  testing::TempDir empty;
  auto ds = Dataset::Open(empty.path());
  EXPECT_TRUE(ds.status().IsNotFound()) << ds.status().ToString();
  EXPECT_NE(ds.status().message().find("manifest.json"), std::string::npos);
}

}  // namespace
}  // namespace shardmesh::loader
