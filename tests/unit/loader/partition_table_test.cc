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

// A member that joined mid-epoch (g, not in M0) gets partition 0 from its owner a at a's
// cursor; another worker that merges the record and the entry agrees that g owns it.
TEST(PartitionTableHandoverTest, TheGuestOwnsTheHandedPartitionOnEveryWorker) {
  auto a = MakeTable();
  a.Advance(0, 4);
  const auto version = a.terms_version();
  ASSERT_TRUE(a.HandOver(0, "g"));
  EXPECT_EQ(a.Owner(0), "g");
  EXPECT_TRUE(a.HandedOver(0));
  EXPECT_FALSE(a.HandedOver(1));
  EXPECT_TRUE(a.IsGuest("g"));
  EXPECT_FALSE(a.IsGuest("b"));
  EXPECT_GT(a.terms_version(), version);
  EXPECT_EQ(a.entry(0).term, PartitionTable::kHandoverStride);
  EXPECT_EQ(a.entry(0).cursor, 4u);
  EXPECT_TRUE(a.OwnedBy("a").empty());
  EXPECT_EQ(a.OwnedBy("g"), std::vector<std::uint32_t>{0});

  auto b = MakeTable();
  // Without its record, the handover term is far beyond anything b knows: refused.
  EXPECT_FALSE(b.Merge(a.entry(0)));
  for (const auto& h : a.Handovers()) EXPECT_TRUE(b.MergeHandover(h));
  EXPECT_TRUE(b.Merge(a.entry(0)));
  EXPECT_EQ(b.Owner(0), "g");
  EXPECT_EQ(b.entry(0).cursor, 4u);
  EXPECT_FALSE(b.MergeHandover(a.Handovers().front())) << "already known";
}

TEST(PartitionTableHandoverTest, RefusesBadRecordsAndDonePartitions) {
  auto t = MakeTable();
  const std::uint32_t term = PartitionTable::kHandoverStride;
  EXPECT_FALSE(t.MergeHandover({0, term, "b"})) << "an M0 member needs no record";
  EXPECT_FALSE(t.MergeHandover({0, term, ""}));
  EXPECT_FALSE(t.MergeHandover({7, term, "g"})) << "unknown partition";
  EXPECT_FALSE(t.MergeHandover({0, 3, "g"})) << "not a handover term";
  t.Advance(1, 20);
  EXPECT_FALSE(t.HandOver(1, "g")) << "done";
  EXPECT_FALSE(t.HandOver(0, "")) << "no guest";
  EXPECT_EQ(t.Owner(0), "a");
}

// The guest dies: its partition goes on through pref from the handover term, at its last
// cursor, to exactly one M0 member; later takeovers skip terms other guests hold.
TEST(PartitionTableHandoverTest, ADeadGuestsPartitionMovesOnThroughThePreferenceList) {
  auto t = MakeTable();
  ASSERT_TRUE(t.HandOver(0, "g"));
  t.Merge({0, PartitionTable::kHandoverStride, 7});
  std::vector<std::string> takers;
  for (const char* self : {"a", "b", "c"}) {
    auto copy = t;
    if (copy.TakeOver({"g"}, self) == std::vector<std::uint32_t>{0}) {
      takers.push_back(self);
      EXPECT_EQ(copy.Owner(0), self);
      EXPECT_EQ(copy.entry(0).cursor, 7u);
      EXPECT_FALSE(copy.HandedOver(0));
    }
  }
  EXPECT_EQ(takers.size(), 1u);

  // A record for the very term a takeover would pick (a split brain) is skipped over.
  auto u = MakeTable();
  ASSERT_TRUE(u.HandOver(0, "g"));
  ASSERT_TRUE(u.MergeHandover({0, PartitionTable::kHandoverStride + 1, "h"}));
  // pref(0) is a, b, c and kHandoverStride % 3 == 1: term +1 would be c's, +2 is a's.
  ASSERT_EQ(u.TakeOver({"g"}, "a"), std::vector<std::uint32_t>{0});
  EXPECT_EQ(u.entry(0).term, PartitionTable::kHandoverStride + 2);
  EXPECT_EQ(u.Owner(0), "a");
}

TEST(PartitionTableHandoverTest, RecordsAreCappedPerPartition) {
  auto t = MakeTable();
  const std::uint32_t base = PartitionTable::kHandoverStride;
  for (std::uint32_t i = 0; i < PartitionTable::kMaxHandoversPerPartition; ++i)
    ASSERT_TRUE(t.MergeHandover({0, base + i, "g"})) << i;
  EXPECT_FALSE(t.MergeHandover({0, base + 1000, "g"})) << "over the cap";
  EXPECT_TRUE(t.MergeHandover({1, base, "g"})) << "another partition has its own cap";
}

}  // namespace
}  // namespace shardmesh::loader
