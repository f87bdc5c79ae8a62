// StreamCheckpointWriter (loader/src): the newest submitted state is what lands on disk, Close
// writes the final state synchronously, and sequences continue across writers.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "../../../loader/src/stream_checkpoint_writer.h"
#include "shardmesh/checkpoint/stream_checkpoint.h"

namespace shardmesh::loader::internal {
namespace {

namespace fs = std::filesystem;

class StreamCheckpointWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("shardmesh_writer_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static checkpoint::StreamState State(std::uint64_t epoch, std::uint64_t cursor) {
    checkpoint::StreamState s;
    s.epoch = epoch;
    s.plan_digest = 42;
    s.cursors.push_back({3, cursor});
    return s;
  }

  checkpoint::LoadedStreamState Latest() const {
    checkpoint::CheckpointStoreOptions o;
    o.prefix = "stream";
    auto store = checkpoint::CheckpointStore::Create(dir_.string(), o);
    EXPECT_TRUE(store.ok()) << store.status().message();
    auto loaded = checkpoint::LoadLatestStreamState(*store);
    EXPECT_TRUE(loaded.ok()) << loaded.status().message();
    return loaded.ok() ? *loaded : checkpoint::LoadedStreamState{};
  }

  fs::path dir_;
};

TEST_F(StreamCheckpointWriterTest, CloseWritesTheFinalStateAfterEverythingSubmitted) {
  auto writer = StreamCheckpointWriter::Open(dir_.string(), 3);
  ASSERT_TRUE(writer.ok()) << writer.status().message();
  for (std::uint64_t c = 1; c <= 200; ++c) (*writer)->Submit(State(0, c));
  (*writer)->Close(State(0, 500));
  const auto latest = Latest();
  ASSERT_EQ(latest.state.cursors.size(), 1u);
  EXPECT_EQ(latest.state.cursors[0].consumed, 500u);
  // Queued states may be replaced by newer ones, but at least the last queued and the final
  // one were written, and never more than were submitted.
  EXPECT_GE((*writer)->persisted(), 2u);
  EXPECT_LE((*writer)->persisted(), 201u);
  EXPECT_EQ((*writer)->failures(), 0u);
  (*writer)->Submit(State(0, 900));  // after Close: ignored
  EXPECT_EQ(Latest().state.cursors[0].consumed, 500u);
}

TEST_F(StreamCheckpointWriterTest, WithoutAFinalStateTheLastSubmittedOneIsOnDisk) {
  {
    auto writer = StreamCheckpointWriter::Open(dir_.string(), 3);
    ASSERT_TRUE(writer.ok());
    (*writer)->Submit(State(1, 7));
    (*writer)->Submit(State(1, 8));
  }  // destructor: Close()
  EXPECT_EQ(Latest().state.cursors[0].consumed, 8u);
  EXPECT_EQ(Latest().state.epoch, 1u);
}

TEST_F(StreamCheckpointWriterTest, ASecondWriterContinuesTheSequenceSoItsStatesAreNewest) {
  std::uint64_t first_sequence = 0;
  {
    auto writer = StreamCheckpointWriter::Open(dir_.string(), 3);
    ASSERT_TRUE(writer.ok());
    (*writer)->Close(State(0, 100));
    first_sequence = Latest().sequence;
  }
  auto again = StreamCheckpointWriter::Open(dir_.string(), 3);
  ASSERT_TRUE(again.ok());
  (*again)->Close(State(0, 50));  // a smaller cursor, but written later: it is the newest
  EXPECT_GT(Latest().sequence, first_sequence);
  EXPECT_EQ(Latest().state.cursors[0].consumed, 50u);
}

TEST_F(StreamCheckpointWriterTest, UncreatableDirectoryIsAnErrorNamingIt) {
  const fs::path file = dir_.string() + "_file";
  { std::ofstream(file) << "x"; }
  auto writer = StreamCheckpointWriter::Open((file / "sub").string(), 3);
  fs::remove(file);
  ASSERT_FALSE(writer.ok());
  EXPECT_NE(writer.status().message().find((file / "sub").string()), std::string::npos)
      << writer.status().message();
}

}  // namespace
}  // namespace shardmesh::loader::internal
