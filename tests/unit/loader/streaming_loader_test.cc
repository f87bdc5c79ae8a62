#include "shardmesh/loader/streaming_loader.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <ranges>
#include <string>
#include <thread>
#include <vector>

#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/synthetic.h"

namespace shardmesh::loader {
namespace {

namespace fs = std::filesystem;

std::vector<std::uint64_t> Drain(StreamingLoader& loader) {
  std::vector<std::uint64_t> ids;
  while (true) {
    auto s = loader.Next();
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (!s.ok() || !s->has_value()) break;
    ids.push_back((*s)->global_index());
  }
  return ids;
}

std::unique_ptr<StreamingLoader> MustCreate(std::shared_ptr<const Dataset> ds,
                                            StreamingConfig config) {
  auto loader = StreamingLoader::Create(std::move(ds), std::move(config));
  EXPECT_TRUE(loader.ok()) << loader.status().ToString();
  return loader.ok() ? std::move(loader).value() : nullptr;
}

class StreamingLoaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/shardmesh_streaming_loader_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = new std::string(tmpl);
    SyntheticOptions o;
    o.out_dir = *root_ + "/data";
    o.samples = 1009;
    o.shards = 3;
    o.feature_dim = 8;
    o.seq_len = 4;
    o.classes = 5;
    o.seed = 3;
    o.block_bytes = 2048;  // ~25 samples per block: a few dozen blocks of uneven sizes
    Status s = GenerateSyntheticDataset(o);
    ASSERT_TRUE(s.ok()) << s.ToString();
    auto ds = Dataset::Open(o.out_dir);
    ASSERT_TRUE(ds.ok()) << ds.status().ToString();
    dataset_ = new std::shared_ptr<const Dataset>(*ds);
  }
  static void TearDownTestSuite() {
    delete dataset_;
    std::error_code ec;
    fs::remove_all(*root_, ec);
    delete root_;
  }

  static std::vector<std::uint64_t> PlannedSequence(const StreamingConfig& config) {
    auto layout = MakeDatasetLayout(**dataset_);
    EXPECT_TRUE(layout.ok());
    auto plan = BuildPartitionPlan(*layout, (*dataset_)->labels(), config.plan_options());
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    return plan->ranks[config.plan_options().rank].sequence;
  }

  // A copy of the dataset in <root>/<name> with one byte of global block `block` flipped.
  static std::shared_ptr<const Dataset> CorruptCopy(const std::string& name, std::uint32_t block) {
    const std::string dir = *root_ + "/" + name;
    fs::remove_all(dir);
    fs::copy(*root_ + "/data", dir, fs::copy_options::recursive);
    const BlockInfo& info = (*dataset_)->blocks()[block];
    std::fstream f((*dataset_)->ShardPath(info.shard).replace(0, (*root_ + "/data").size(), dir),
                   std::ios::in | std::ios::out | std::ios::binary);
    const auto at = static_cast<std::streamoff>(info.offset + info.compressed_size / 2);
    char c;
    f.seekg(at);
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(at);
    f.write(&c, 1);
    f.close();
    auto ds = Dataset::Open(dir);
    EXPECT_TRUE(ds.ok()) << ds.status().ToString();
    return ds.ok() ? *ds : nullptr;
  }

  static std::string* root_;
  static std::shared_ptr<const Dataset>* dataset_;
};

std::string* StreamingLoaderTest::root_ = nullptr;
std::shared_ptr<const Dataset>* StreamingLoaderTest::dataset_ = nullptr;

TEST_F(StreamingLoaderTest, DatasetHasUnevenBlocks) {
  const auto& ds = **dataset_;
  EXPECT_EQ(ds.num_samples(), 1009u);
  EXPECT_GT(ds.blocks().size(), 20u);
  EXPECT_FALSE(ds.labels().empty());
}

TEST_F(StreamingLoaderTest, DeliversThePlannedSequenceWithTheRightSamples) {
  const auto labels = (*dataset_)->labels();
  const auto label_index = *(*dataset_)->schema().label_index();
  for (Strategy strategy : {Strategy::kRoundRobin, Strategy::kContiguous, Strategy::kHash,
                            Strategy::kStratified, Strategy::kAdaptive}) {
    for (std::uint32_t w : {1u, 2u, 3u, 4u, 7u}) {
      std::uint64_t total = 0;
      for (std::uint32_t r = 0; r < w; ++r) {
        auto config = StreamingConfig(w, r).WithStrategy(strategy).WithSeed(11).WithPartitions(8);
        auto loader = MustCreate(*dataset_, config);
        ASSERT_NE(loader, nullptr);
        std::vector<std::uint64_t> ids;
        while (true) {
          auto s = loader->Next();
          ASSERT_TRUE(s.ok()) << s.status().ToString();
          if (!s->has_value()) break;
          const Sample& sample = **s;
          ids.push_back(sample.global_index());
          ASSERT_EQ(sample.view.field(label_index).AsInt64(), labels[sample.global_index()]);
        }
        EXPECT_EQ(ids, PlannedSequence(config))
            << StrategyName(strategy) << " W " << w << " rank " << r;
        EXPECT_EQ(ids.size(), loader->Len());
        total += ids.size();
      }
      EXPECT_GE(total, 1009u);
    }
  }
}

TEST_F(StreamingLoaderTest, RangeStrategyDeliversItsRange) {
  const std::vector<SampleRange> ranges = {{500, 1009}, {0, 500}};
  for (std::uint32_t r = 0; r < 2; ++r) {
    auto config = StreamingConfig(2, r).WithStrategy(Strategy::kRange).WithRanges(ranges);
    auto loader = MustCreate(*dataset_, config);
    ASSERT_NE(loader, nullptr);
    const auto ids = Drain(*loader);
    EXPECT_EQ(ids, PlannedSequence(config));
    EXPECT_EQ(ids.size(), 505u);
  }
}

TEST_F(StreamingLoaderTest, RestoringACheckpointInANewLoaderYieldsExactlyTheRest) {
  for (Strategy strategy : {Strategy::kRoundRobin, Strategy::kContiguous, Strategy::kHash,
                            Strategy::kRange, Strategy::kStratified, Strategy::kAdaptive}) {
    for (std::uint32_t w : {1u, 4u, 7u}) {
      auto config = StreamingConfig(w, w - 1).WithStrategy(strategy).WithSeed(5).WithEpoch(2);
      if (strategy == Strategy::kRange) {
        std::vector<SampleRange> ranges;
        for (std::uint64_t r = 0; r < w; ++r) ranges.push_back({r * 1009 / w, (r + 1) * 1009 / w});
        config.WithRanges(ranges);
      }
      const auto full = PlannedSequence(config);
      for (std::uint64_t stop : {0ul, 1ul, 17ul, full.size() / 2, full.size() - 1, full.size()}) {
        auto first = MustCreate(*dataset_, config);
        ASSERT_NE(first, nullptr);
        std::vector<std::uint64_t> got;
        for (std::uint64_t i = 0; i < stop; ++i) got.push_back((*first->Next())->global_index());
        const std::string bytes = checkpoint::EncodeStreamState(first->GetCheckpoint());
        first.reset();
        auto state = checkpoint::DecodeStreamState(AsBytes(bytes));
        ASSERT_TRUE(state.ok()) << state.status().ToString();
        EXPECT_EQ(state->position, stop);
        auto second = MustCreate(*dataset_, StreamingConfig(config).WithEpoch(0));
        ASSERT_NE(second, nullptr);
        ASSERT_TRUE(second->RestoreFromCheckpoint(*state).ok());
        EXPECT_EQ(second->epoch(), 2u);
        const auto rest = Drain(*second);
        got.insert(got.end(), rest.begin(), rest.end());
        EXPECT_EQ(got, full) << StrategyName(strategy) << " W " << w << " stopped at " << stop;
      }
    }
  }
}

TEST_F(StreamingLoaderTest, CheckpointCursorsCountConsumedSamplesPerPartition) {
  auto loader = MustCreate(*dataset_, StreamingConfig(2, 0).WithPartitions(8));
  ASSERT_NE(loader, nullptr);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(loader->Next().ok());
  const auto state = loader->GetCheckpoint();
  std::uint64_t sum = 0;
  for (const auto& c : state.cursors) {
    sum += c.consumed;
    EXPECT_EQ(c.partition % 2, 0u) << "round-robin rank 0 owns even partitions";
  }
  EXPECT_EQ(sum, 100u);
  EXPECT_LT(checkpoint::EncodeStreamState(state).size(), 200u);
}

TEST_F(StreamingLoaderTest, RestoreRejectsAnotherPlanNamingTheMismatch) {
  auto loader = MustCreate(*dataset_, StreamingConfig(4, 1).WithSeed(1));
  ASSERT_NE(loader, nullptr);
  const auto state = loader->GetCheckpoint();
  struct Case {
    StreamingConfig config;
    const char* text;
  } cases[] = {
      {StreamingConfig(4, 1).WithSeed(2), "seed"},
      {StreamingConfig(5, 1).WithSeed(1), "world_size"},
      {StreamingConfig(4, 2).WithSeed(1), "rank"},
      {StreamingConfig(4, 1).WithSeed(1).WithStrategy(Strategy::kHash), "strategy"},
      {StreamingConfig(4, 1).WithSeed(1).WithPartitions(32), "digest"},
  };
  for (const auto& c : cases) {
    auto other = MustCreate(*dataset_, c.config);
    ASSERT_NE(other, nullptr);
    Status s = other->RestoreFromCheckpoint(state);
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_TRUE(s.IsInvalidArgument());
    EXPECT_NE(s.message().find(c.text), std::string::npos) << s.message();
  }
}

TEST_F(StreamingLoaderTest, RejectedRestoreLeavesAUsableLoader) {
  const auto config = StreamingConfig(2, 0).WithSeed(3);
  auto loader = MustCreate(*dataset_, config);
  ASSERT_NE(loader, nullptr);
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back((*loader->Next())->global_index());
  const auto good = loader->GetCheckpoint();
  // Each is refused, and each leaves the loader where it was: epoch 0, position 5, the rest
  // of the stream intact (it used to move to the refused epoch or back to position 0).
  std::vector<checkpoint::StreamState> bad(5, good);
  bad[0].epoch = 7;
  bad[0].sequence_length += 1;  // does not fit epoch 7's sequence
  bad[1].position = good.sequence_length + 1;
  bad[2].position = 4;  // the cursors say 5
  bad[3].version = 99;
  bad[4].cursors.clear();
  for (const auto& state : bad) {
    const Status s = loader->RestoreFromCheckpoint(state);
    EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
    EXPECT_EQ(loader->epoch(), 0u);
    EXPECT_EQ(loader->position(), 5u);
  }
  const auto rest = Drain(*loader);
  ids.insert(ids.end(), rest.begin(), rest.end());
  EXPECT_EQ(ids, PlannedSequence(config));
}

// NextBatch that meets an error after taking some samples hands them over instead of dropping
// them (they were counted as delivered, so a checkpoint taken then skipped them for good).
TEST_F(StreamingLoaderTest, NextBatchKeepsTheSamplesTakenBeforeAnError) {
  const auto config = StreamingConfig(1, 0).WithSeed(2);
  auto loader = MustCreate(*dataset_, config);
  ASSERT_NE(loader, nullptr);
  const std::vector<std::uint64_t> planned = PlannedSequence(config);
  // Damage the block of the sample at position 40 (the first 40 come from other blocks or
  // from the same one; either way the batch stops at or before 40).
  const std::uint32_t bad_block = (*dataset_)->BlockOfSample(planned[40]);
  std::uint64_t first_bad = 0;
  while ((*dataset_)->BlockOfSample(planned[first_bad]) != bad_block) ++first_bad;
  ASSERT_GT(first_bad, 0u) << "pick another seed: the damaged block comes first";
  auto damaged = MustCreate(CorruptCopy("batch-error", bad_block), config);
  ASSERT_NE(damaged, nullptr);
  auto batch = damaged->NextBatch(1000);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ(batch->size(), first_bad);
  for (std::size_t i = 0; i < batch->size(); ++i) EXPECT_EQ((*batch)[i].global_index(), planned[i]);
  EXPECT_EQ(damaged->position(), first_bad);
  auto next = damaged->NextBatch(1000);
  ASSERT_FALSE(next.ok());
  EXPECT_TRUE(next.status().IsCorruption()) << next.status().ToString();
  EXPECT_EQ(damaged->GetCheckpoint().position, first_bad);
}

// A tick of the interval belongs to its epoch: after Reset (or a restore) there is none until
// the next tick, so saving it never resumes the previous epoch.
TEST_F(StreamingLoaderTest, AutoCheckpointIsClearedByResetAndRestore) {
  auto loader = MustCreate(*dataset_, StreamingConfig(2, 1).WithCheckpointInterval(100));
  ASSERT_NE(loader, nullptr);
  Drain(*loader);
  ASSERT_TRUE(loader->LastAutoCheckpoint().has_value());
  EXPECT_EQ(loader->LastAutoCheckpoint()->epoch, 0u);
  ASSERT_TRUE(loader->Reset(1).ok());
  EXPECT_FALSE(loader->LastAutoCheckpoint().has_value());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(loader->Next().ok());
  ASSERT_TRUE(loader->LastAutoCheckpoint().has_value());
  EXPECT_EQ(loader->LastAutoCheckpoint()->epoch, 1u);
  EXPECT_EQ(loader->LastAutoCheckpoint()->position, 100u);
  ASSERT_TRUE(loader->RestoreFromCheckpoint(*loader->LastAutoCheckpoint()).ok());
  EXPECT_FALSE(loader->LastAutoCheckpoint().has_value());
}

TEST_F(StreamingLoaderTest, RangeForAndNextBatchCoverTheEpoch) {
  const auto config = StreamingConfig(2, 1).WithSeed(9);
  auto loader = MustCreate(*dataset_, config);
  ASSERT_NE(loader, nullptr);
  auto batch = loader->NextBatch(64);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->size(), 64u);
  std::vector<std::uint64_t> ids;
  for (const Sample& s : *batch) ids.push_back(s.global_index());
  for (const Sample& s : *loader) ids.push_back(s.global_index());
  EXPECT_TRUE(loader->status().ok());
  EXPECT_EQ(ids, PlannedSequence(config));
  auto after = loader->NextBatch(10);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->empty());
}

// The range is a std::ranges::input_range whose begin() consumes nothing: `begin() == end()`
// used to take a sample that no one saw (the checkpoint then skipped it), and a loop left by
// break consumes exactly what its body saw, so Next() and a second loop go on from there.
static_assert(std::ranges::input_range<StreamingLoader>);
TEST_F(StreamingLoaderTest, RangeBeginConsumesNothingAndABreakLosesNothing) {
  const auto config = StreamingConfig(2, 0).WithSeed(5);
  auto loader = MustCreate(*dataset_, config);
  ASSERT_NE(loader, nullptr);
  (void)loader->begin();
  (void)loader->begin();
  EXPECT_EQ(loader->position(), 0u);
  std::vector<std::uint64_t> ids;
  for (const Sample& s : *loader | std::views::take(3)) ids.push_back(s.global_index());
  for (const Sample& s : *loader) {
    ids.push_back(s.global_index());
    if (ids.size() == 10) break;
  }
  EXPECT_EQ(loader->position(), 10u);
  auto next = loader->Next();
  ASSERT_TRUE(next.ok() && next->has_value());
  ids.push_back((*next)->global_index());
  for (const Sample& s : *loader) ids.push_back(s.global_index());
  EXPECT_EQ(ids, PlannedSequence(config));
}

// In a process forked from the loader's creator its decode threads do not exist: the child's
// first wait for a block hung for ever. Now it is FailedPrecondition, and the child's
// destructor returns (it leaks its copy rather than join threads that are not there).
TEST_F(StreamingLoaderTest, UseInAForkedChildIsAnErrorNotAHang) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer's runtime does not support a multi-threaded fork";
#endif
  auto loader = MustCreate(*dataset_, StreamingConfig(1, 0).WithPrefetchThreads(1));
  ASSERT_NE(loader, nullptr);
  if (loader->decode_threads() == 0) GTEST_SKIP() << "one CPU: the loader decodes inline";
  ASSERT_TRUE(loader->Next().ok());
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::alarm(20);   // a hang ends the child with SIGALRM, which the parent reports
    int code = 3;  // the epoch ended without the error
    for (int i = 0; i < 100000; ++i) {
      auto next = loader->Next();
      if (!next.ok()) {
        code = next.status().code() == StatusCode::kFailedPrecondition &&
                       next.status().message().find("forked") != std::string::npos
                   ? 0
                   : 4;
        break;
      }
      if (!next->has_value()) break;
    }
    if (code == 0 && loader->Reset(1).code() != StatusCode::kFailedPrecondition) code = 5;
    loader.reset();
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // The parent's loader is untouched.
  auto next = loader->Next();
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_TRUE(next->has_value());
}

// prefetch_threads 0: no decode thread, the consumer decodes each block itself, same sequence.
TEST_F(StreamingLoaderTest, ZeroPrefetchThreadsDecodesOnTheConsumerThread) {
  const auto config = StreamingConfig(3, 2).WithSeed(6).WithPrefetchThreads(0);
  auto loader = MustCreate(*dataset_, config);
  ASSERT_NE(loader, nullptr);
  EXPECT_EQ(loader->decode_threads(), 0u);
  EXPECT_EQ(Drain(*loader), PlannedSequence(config));
}

TEST_F(StreamingLoaderTest, ResetStartsAnotherEpochAndRepeatsTheSameOne) {
  auto loader = MustCreate(*dataset_, StreamingConfig(3, 0).WithSeed(4));
  ASSERT_NE(loader, nullptr);
  const auto epoch0 = Drain(*loader);
  ASSERT_TRUE(loader->Reset(1).ok());
  const auto epoch1 = Drain(*loader);
  ASSERT_TRUE(loader->Reset(0).ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(loader->Next().ok());
  ASSERT_TRUE(loader->Reset(0).ok());
  const auto again = Drain(*loader);
  EXPECT_NE(epoch0, epoch1);
  EXPECT_EQ(epoch0, again);
}

TEST_F(StreamingLoaderTest, TinyBudgetsAndManyThreadsNeverDeadlock) {
  std::uint64_t max_block = 0;
  for (const auto& b : (*dataset_)->blocks())
    max_block = std::max<std::uint64_t>(max_block, b.raw_size);
  for (std::uint32_t threads : {1u, 3u}) {
    const auto config = StreamingConfig(2, 0)
                            .WithPrefetchBytes(1)
                            .WithPrefetchBlocks(1)
                            .WithPrefetchThreads(threads)
                            .WithPartitions(4)
                            .WithShuffleWindowBlocks(3);
    auto loader = MustCreate(*dataset_, config);
    ASSERT_NE(loader, nullptr);
    EXPECT_EQ(Drain(*loader), PlannedSequence(config));
    // Working set: 2 owned partitions x 3-block windows, plus the one block always admitted.
    EXPECT_LE(loader->stats().peak_bytes_held, (2 * 3 + 1) * max_block);
  }
}

// A loader started by a thread confined to one CPU decodes on that thread (no background
// decoder could run beside it) and delivers the same sequence.
TEST_F(StreamingLoaderTest, OnOneCpuTheConsumerDecodesItselfAndDeliversTheSameSequence) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  int cpu = 0;
  while (!CPU_ISSET(cpu, &allowed)) ++cpu;
  const auto config = StreamingConfig(3, 1).WithPartitions(6).WithPrefetchThreads(2);
  std::vector<std::uint64_t> pinned_ids;
  std::uint32_t pinned_threads = 99;
  std::thread pinned([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    auto loader = MustCreate(*dataset_, config);
    ASSERT_NE(loader, nullptr);
    pinned_threads = loader->decode_threads();
    pinned_ids = Drain(*loader);
  });
  pinned.join();
  EXPECT_EQ(pinned_threads, 0u);
  EXPECT_EQ(pinned_ids, PlannedSequence(config));
  if (CPU_COUNT(&allowed) > 1) {
    auto loader = MustCreate(*dataset_, config);
    ASSERT_NE(loader, nullptr);
    EXPECT_EQ(loader->decode_threads(), 2u);
  }
}

TEST_F(StreamingLoaderTest, PrefetchStaysWithinTheByteBudget) {
  std::uint64_t max_block = 0;
  for (const auto& b : (*dataset_)->blocks())
    max_block = std::max<std::uint64_t>(max_block, b.raw_size);
  const std::uint64_t budget = 6 * max_block;
  auto loader = MustCreate(*dataset_, StreamingConfig(1, 0)
                                          .WithPartitions(2)
                                          .WithPrefetchBlocks(100)
                                          .WithPrefetchThreads(2)
                                          .WithPrefetchBytes(budget));
  ASSERT_NE(loader, nullptr);
  EXPECT_EQ(Drain(*loader).size(), 1009u);
  EXPECT_LE(loader->stats().peak_bytes_held, budget);
  EXPECT_GT(loader->stats().peak_bytes_held, 2 * max_block / 2) << "prefetch did run ahead";
}

TEST_F(StreamingLoaderTest, EarlyDestructionMidEpochIsClean) {
  for (int round = 0; round < 20; ++round) {
    auto loader = MustCreate(*dataset_, StreamingConfig(1, 0).WithPrefetchThreads(4));
    ASSERT_NE(loader, nullptr);
    for (int i = 0; i < round; ++i) ASSERT_TRUE(loader->Next().ok());
  }
}

TEST_F(StreamingLoaderTest, SamplesOutliveTheLoader) {
  std::vector<Sample> kept;
  {
    auto loader = MustCreate(*dataset_, StreamingConfig(1, 0));
    ASSERT_NE(loader, nullptr);
    auto batch = loader->NextBatch(50);
    ASSERT_TRUE(batch.ok());
    kept = std::move(*batch);
  }
  const auto labels = (*dataset_)->labels();
  for (const Sample& s : kept) {
    EXPECT_EQ(s.view.field("label").AsInt64(), labels[s.global_index()]);
    EXPECT_EQ(s.view.field("features").AsTensor().num_elements(), 8u);
  }
}

TEST_F(StreamingLoaderTest, StatsCountWhatHappened) {
  auto loader =
      MustCreate(*dataset_, StreamingConfig(1, 0).WithCheckpointInterval(100).WithPartitions(4));
  ASSERT_NE(loader, nullptr);
  const auto ids = Drain(*loader);
  const LoaderStats s = loader->stats();
  EXPECT_EQ(s.samples_loaded, 1009u);
  EXPECT_EQ(s.local_samples, 1009u);
  EXPECT_EQ(s.remote_samples, 0u);
  EXPECT_EQ(s.blocks_decoded, (*dataset_)->blocks().size());
  EXPECT_EQ(s.prefetch_hits + s.prefetch_misses, s.blocks_decoded);
  EXPECT_GT(s.bytes_decompressed, s.bytes_read / 2);
  EXPECT_EQ(s.checkpoints_taken, 10u);
  EXPECT_DOUBLE_EQ(s.decode_amplification, 1.0);
  ASSERT_TRUE(loader->LastAutoCheckpoint().has_value());
  EXPECT_EQ(loader->LastAutoCheckpoint()->position, 1000u);
  EXPECT_FALSE(s.ToString().empty());
}

TEST_F(StreamingLoaderTest, InvalidConfigsAreRejectedNamingTheField) {
  struct Case {
    StreamingConfig config;
    const char* field;
  } cases[] = {
      {StreamingConfig(0, 0), "world_size"},
      {StreamingConfig(2, 2), "rank"},
      {StreamingConfig(2, 0).WithPartitions(0), "partitions"},
      {StreamingConfig(2, 0).WithPrefetchBytes(0), "prefetch_bytes"},
      {StreamingConfig(2, 0).WithStrategy(Strategy::kRange), "ranges"},
      {StreamingConfig(2, 0).WithPrefetchThreads(40000), "prefetch_threads"},
      {StreamingConfig(2, 0).WithStrategy(static_cast<Strategy>(42)), "strategy"},
      {StreamingConfig(2, 0).WithDropPolicy(static_cast<DropPolicy>(7)), "drop_policy"},
  };
  for (const auto& c : cases) {
    auto loader = StreamingLoader::Create(*dataset_, c.config);
    ASSERT_FALSE(loader.ok()) << c.field;
    EXPECT_TRUE(loader.status().IsInvalidArgument());
    EXPECT_NE(loader.status().message().find(c.field), std::string::npos)
        << loader.status().message();
  }
}

TEST_F(StreamingLoaderTest, EmptyDatasetPathIsAnArgumentErrorNotTheRoot) {
  auto ds = Dataset::Open("");
  ASSERT_FALSE(ds.ok());
  EXPECT_TRUE(ds.status().IsInvalidArgument()) << ds.status().ToString();
}

// A misspelt field name gives an invalid view; using it anyway aborts with a message that says
// so (it was a null dereference).
TEST_F(StreamingLoaderTest, AccessorOnAnUnknownFieldNameAbortsWithAMessage) {
  // The loader has a decode thread: re-execute the binary rather than fork with threads.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto loader = MustCreate(*dataset_, StreamingConfig(1, 0));
  ASSERT_NE(loader, nullptr);
  auto sample = loader->Next();
  ASSERT_TRUE(sample.ok() && sample->has_value());
  const SampleView view = (*sample)->view;
  EXPECT_FALSE(view.field("featurs").valid());
  EXPECT_TRUE(view.field("features").valid());
  EXPECT_DEATH(view.field("featurs").AsTensor(), "AsTensor\\(\\) on an invalid view");
  EXPECT_DEATH((void)view.field("labl").type(), "check valid\\(\\)");
}

TEST_F(StreamingLoaderTest, CorruptBlockSurfacesFromNextNamingFileAndBlock) {
  // Copy the dataset and flip a byte inside one block of shard 1.
  const std::string dir = *root_ + "/corrupt";
  fs::remove_all(dir);
  fs::copy(*root_ + "/data", dir, fs::copy_options::recursive);
  auto clean = Dataset::Open(dir);
  ASSERT_TRUE(clean.ok());
  const BlockInfo* victim = nullptr;
  for (const auto& b : (*clean)->blocks()) {
    if (b.shard == 1 && b.index_in_shard == 2) victim = &b;
  }
  ASSERT_NE(victim, nullptr);
  const std::string shard_path = (*clean)->ShardPath(1);
  {
    std::fstream f(shard_path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(victim->offset + victim->compressed_size / 2));
    char c;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(static_cast<std::streamoff>(victim->offset + victim->compressed_size / 2));
    f.write(&c, 1);
  }
  auto ds = Dataset::Open(dir);
  ASSERT_TRUE(ds.ok()) << "block corruption is found at read time, not open time";
  auto loader = MustCreate(*ds, StreamingConfig(1, 0).WithPrefetchThreads(2));
  ASSERT_NE(loader, nullptr);
  Status error;
  std::uint64_t delivered = 0;
  while (true) {
    auto s = loader->Next();
    if (!s.ok()) {
      error = s.status();
      break;
    }
    if (!s->has_value()) break;
    ++delivered;
  }
  ASSERT_FALSE(error.ok()) << "corruption went unnoticed";
  EXPECT_LT(delivered, 1009u);
  EXPECT_NE(error.message().find(fs::path(shard_path).filename().string()), std::string::npos)
      << error.message();
  EXPECT_NE(error.message().find("block"), std::string::npos) << error.message();
  EXPECT_FALSE(loader->Next().ok()) << "the loader stays failed";
  // Range iteration stops and reports the same error.
  ASSERT_TRUE(loader->Reset(0).ok());
  for (const Sample& s : *loader) (void)s;
  EXPECT_FALSE(loader->status().ok());
}

}  // namespace
}  // namespace shardmesh::loader
