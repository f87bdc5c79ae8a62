#include "broadcast_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace shardmesh::mesh {
namespace {

using Strings = std::vector<std::string>;

class BroadcastQueueTest : public ::testing::Test {
 protected:
  BroadcastQueue q_;
};

TEST_F(BroadcastQueueTest, NewestFirstAmongEquallySent) {
  q_.Queue("a", "aaaa");
  q_.Queue("b", "bbbb");
  q_.Queue("c", "cccc");
  EXPECT_EQ(q_.GetBroadcasts(0, 1000, 10), (Strings{"cccc", "bbbb", "aaaa"}));
}

TEST_F(BroadcastQueueTest, LeastTransmittedFirst) {
  q_.Queue("a", "aaaa");
  EXPECT_EQ(q_.GetBroadcasts(0, 1000, 10), (Strings{"aaaa"}));
  q_.Queue("b", "bbbb");
  // b has 0 transmissions, a has 1: b first even though both fit.
  EXPECT_EQ(q_.GetBroadcasts(0, 4, 10), (Strings{"bbbb"}));
  // Both sent once now: the newer (b) goes first, then a (1) before b (2).
  EXPECT_EQ(q_.GetBroadcasts(0, 4, 10), (Strings{"bbbb"}));
  EXPECT_EQ(q_.GetBroadcasts(0, 4, 10), (Strings{"aaaa"}));
}

TEST_F(BroadcastQueueTest, DroppedAfterTransmitLimit) {
  q_.Queue("a", "aaaa");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(q_.GetBroadcasts(0, 100, 3).size(), 1u);
  EXPECT_TRUE(q_.GetBroadcasts(0, 100, 3).empty());
  EXPECT_TRUE(q_.empty());
}

TEST_F(BroadcastQueueTest, NewerUpdateAboutSameMemberReplacesOlder) {
  q_.Queue("a", "alive-1");
  q_.Queue("b", "b");
  q_.Queue("a", "suspect-1");
  EXPECT_EQ(q_.size(), 2u);
  EXPECT_EQ(q_.GetBroadcasts(0, 100, 5), (Strings{"suspect-1", "b"}));
}

TEST_F(BroadcastQueueTest, RespectsByteBudgetAndSkipsItemsThatDoNotFit) {
  q_.Queue("small", "xx");
  q_.Queue("big", std::string(50, 'y'));
  // Budget 20 with overhead 2: big (52) is skipped, small (4) still goes.
  EXPECT_EQ(q_.GetBroadcasts(2, 20, 5), (Strings{"xx"}));
  EXPECT_EQ(q_.size(), 2u);
}

TEST_F(BroadcastQueueTest, PruneKeepsLeastSentNewest) {
  q_.Queue("a", "a");
  q_.Queue("b", "b");
  (void)q_.GetBroadcasts(0, 100, 10);  // both sent once
  q_.Queue("c", "c");
  q_.Prune(2);
  EXPECT_EQ(q_.GetBroadcasts(0, 100, 10), (Strings{"c", "b"}));
}

}  // namespace
}  // namespace shardmesh::mesh
