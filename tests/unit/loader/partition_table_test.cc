#include "shardmesh/loader/partition_table.h"

#include <gtest/gtest.h>

namespace shardmesh::loader {
namespace {

// Three members a, b, c; partition 0 prefers a, b, c; partition 1 prefers c, a, b.
PartitionTable MakeTable() {
  return PartitionTable(7, {"a", "b", "c"}, {{0, 1, 2}, {2, 0, 1}}, {10, 20});
}

TEST(PartitionTableTest, InitialOwnersAreTheFirstPreference) {
  auto t = MakeTable();
  EXPECT_EQ(t.Owner(0), "a");
  EXPECT_EQ(t.Owner(1), "c");
  EXPECT_EQ(t.OwnedBy("a"), std::vector<std::uint32_t>{0});
  EXPECT_EQ(t.Remaining(), 30u);
  EXPECT_FALSE(t.AllDone());
}

TEST(PartitionTableTest, MergeKeepsTheHighestTermAndCursorsOnlyGrow) {
  auto t = MakeTable();
  EXPECT_TRUE(t.Merge({0, 0, 4}));
  EXPECT_FALSE(t.Merge({0, 0, 3}));  // older commit of the same owner
  EXPECT_EQ(t.entry(0).cursor, 4u);
  EXPECT_TRUE(t.Merge({0, 1, 4}));  // b took over
  EXPECT_EQ(t.Owner(0), "b");
  t.MarkStarted(0);
  EXPECT_FALSE(t.Merge({0, 0, 9}));  // a late commit of a, after b started: ignored
  EXPECT_EQ(t.entry(0).cursor, 4u);
  EXPECT_TRUE(t.Merge({0, 1, 99}));  // clamped to the partition size
  EXPECT_TRUE(t.done(0));
  EXPECT_FALSE(t.Merge({5, 0, 1}));  // unknown partition
}

TEST(PartitionTableTest, LateCommitOfTheDeadOwnerRaisesTheCursorBeforeTheNewOwnerStarts) {
  auto t = MakeTable();
  t.Merge({0, 0, 3});
  const auto mine = t.TakeOver({"a"}, "b");
  ASSERT_EQ(mine, std::vector<std::uint32_t>{0});
  EXPECT_TRUE(t.Merge({0, 0, 6}));  // a's last commit arrives during the grace period
  EXPECT_EQ(t.entry(0).cursor, 6u);
  EXPECT_EQ(t.Owner(0), "b");
}

TEST(PartitionTableTest, OnlyTheNextLiveMemberTakesOverAndDonePartitionsStay) {
  auto t = MakeTable();
  EXPECT_TRUE(t.TakeOver({"a"}, "c").empty());  // b is next for partition 0, not c
  EXPECT_EQ(t.Owner(0), "a");
  EXPECT_EQ(t.TakeOver({"a", "b"}, "c"), std::vector<std::uint32_t>{0});
  EXPECT_EQ(t.Owner(0), "c");
  EXPECT_EQ(t.entry(0).term, 2u);
  t.Advance(1, 20);
  // c dies too: a gets partition 0 back (wrapping), but not partition 1, which is done.
  EXPECT_EQ(t.TakeOver({"b", "c"}, "a"), std::vector<std::uint32_t>{0});
}

TEST(PartitionTableTest, TakeoverWrapsAroundWhenTheTailOfThePreferenceIsDead) {
  auto t = MakeTable();
  t.Merge({1, 2, 5});  // partition 1 is at its last preference, b
  EXPECT_EQ(t.Owner(1), "b");
  EXPECT_EQ(t.TakeOver({"b"}, "c"), std::vector<std::uint32_t>{1});
  EXPECT_EQ(t.Owner(1), "c");
  EXPECT_EQ(t.entry(1).cursor, 5u);
}

TEST(PartitionTableTestDone, DoneIsAbsorbingWhateverTheTermThatReportsIt) {
  auto t = MakeTable();
  ASSERT_EQ(t.TakeOver({"a"}, "b"), std::vector<std::uint32_t>{0});
  t.MarkStarted(0);
  // The old owner, cut off, finished the partition under its lower term: still done.
  EXPECT_TRUE(t.Merge({0, 0, 10}));
  EXPECT_TRUE(t.done(0));
  EXPECT_EQ(t.Owner(0), "b");
}

TEST(ProgressCodecTest, RoundTrips) {
  ProgressMessage m;
  m.epoch = 3;
  m.plan_digest = 0x1234567890abcdefULL;
  m.all_done = true;
  m.members = {"w0", "w1"};
  m.entries = {{0, 1, 17}, {5, 0, 1ull << 40}};
  auto back = DecodeProgress(EncodeProgress(m));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, m);
}

TEST(ProgressCodecTest, RejectsDamagedMessagesWithAReason) {
  ProgressMessage m;
  m.members = {"w0"};
  m.entries = {{0, 0, 1}};
  const std::string good = EncodeProgress(m);
  for (std::size_t len = 0; len < good.size(); ++len) {
    EXPECT_FALSE(DecodeProgress(good.substr(0, len)).ok()) << "prefix of " << len;
  }
  EXPECT_FALSE(DecodeProgress(good + "x").ok());
  std::string bad_magic = good;
  bad_magic[0] = 'X';
  EXPECT_NE(DecodeProgress(bad_magic).status().message().find("magic"), std::string::npos);
  std::string bad_version = good;
  bad_version[4] = 9;
  EXPECT_NE(DecodeProgress(bad_version).status().message().find("version"), std::string::npos);
  std::string bad_flags = good;
  bad_flags[21] = 4;
  EXPECT_NE(DecodeProgress(bad_flags).status().message().find("flags"), std::string::npos);
}

}  // namespace
}  // namespace shardmesh::loader
