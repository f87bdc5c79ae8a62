#include "shardmesh/checkpoint/stream_checkpoint.h"

#include <gtest/gtest.h>

#include <string>

#include "checkpoint_test_util.h"

namespace shardmesh::checkpoint {
namespace {

using testing::LogCapture;
using testing::ScratchDir;

StreamState MakeState(std::uint64_t position) {
  StreamState s;
  s.epoch = 3;
  s.seed = 99;
  s.world_size = 4;
  s.rank = 1;
  s.position = position;
  s.sequence_length = 250000;
  s.plan_digest = 0xabcdef;
  s.timestamp_ms = 1763780000000;
  for (std::uint32_t p = 0; p < 1024; p += 4) s.cursors.push_back({p, position / 256 + p % 7});
  return s;
}

class StreamCheckpointTest : public ::testing::Test {
 protected:
  CheckpointStore MakeStore() {
    auto store = CheckpointStore::Create(dir_.path());
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::move(store).value();
  }
  ScratchDir dir_;
};

TEST_F(StreamCheckpointTest, SavedStateIsRestoredWithItsSequence) {
  CheckpointStore store = MakeStore();
  ASSERT_TRUE(SaveStreamState(store, 10, MakeState(1000)).ok());
  ASSERT_TRUE(SaveStreamState(store, 11, MakeState(2000)).ok());
  auto loaded = LoadLatestStreamState(store);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->sequence, 11u);
  EXPECT_EQ(loaded->state, MakeState(2000));
  EXPECT_EQ(loaded->path, store.PathFor(11));
}

TEST_F(StreamCheckpointTest, ValidFrameWithUndecodableStateIsSkipped) {
  CheckpointStore store = MakeStore();
  ASSERT_TRUE(SaveStreamState(store, 1, MakeState(500)).ok());
  // The file frame is intact; the stream state inside is not one.
  ASSERT_TRUE(store.Save(2, AsBytes(std::string("SMSS not msgpack at all"))).ok());
  LogCapture log;
  auto loaded = LoadLatestStreamState(store);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->sequence, 1u);
  EXPECT_EQ(loaded->state, MakeState(500));
  EXPECT_NE(log.text().find(store.PathFor(2)), std::string::npos) << log.text();
}

// A newer checkpoint the caller refuses (another plan's, copied in or left by an earlier job)
// is skipped with a warning naming it, and the caller's own older one is restored: it used to
// hide it, and the worker restarted its epoch from zero.
TEST_F(StreamCheckpointTest, RefusedNewerStateDoesNotHideAnAcceptedOlderOne) {
  CheckpointStore store = MakeStore();
  StreamState mine = MakeState(500);
  StreamState other = MakeState(900);
  other.plan_digest = mine.plan_digest + 1;
  ASSERT_TRUE(SaveStreamState(store, 1, mine).ok());
  ASSERT_TRUE(SaveStreamState(store, 2, other).ok());
  LogCapture log;
  auto loaded = LoadLatestStreamState(store, [&](const StreamState& s) {
    return s.plan_digest == mine.plan_digest ? Status::OK()
                                             : Status::FailedPrecondition("another plan");
  });
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->sequence, 1u);
  EXPECT_EQ(loaded->state, mine);
  EXPECT_NE(log.text().find(store.PathFor(2)), std::string::npos) << log.text();
  EXPECT_NE(log.text().find("another plan"), std::string::npos) << log.text();
}

TEST_F(StreamCheckpointTest, NoValidStateIsNotFound) {
  CheckpointStore store = MakeStore();
  ASSERT_TRUE(store.Save(1, AsBytes(std::string("junk"))).ok());
  auto loaded = LoadLatestStreamState(store);
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(loaded.status().IsNotFound()) << loaded.status().ToString();
}

}  // namespace
}  // namespace shardmesh::checkpoint
