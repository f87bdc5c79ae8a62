// Membership on a simulated network: joins, failure detection, partitions, loss, slow nodes,
// refutation, leave, identity conflicts, restarts and a 1,000-node mesh. ManualClock only.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "shardmesh/mesh/membership.h"
#include "sim_cluster.h"

namespace shardmesh::mesh {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::SimCluster;

double Secs(Duration d) { return std::chrono::duration<double>(d).count(); }

class MembershipSimTest : public ::testing::TestWithParam<std::uint64_t> {
 protected:
  std::uint64_t seed() const { return GetParam(); }
};

TEST_P(MembershipSimTest, ThreeNodesJoinAndAgree) {
  SimCluster c(seed(), MeshOptions::Local(), milliseconds(5));
  c.CreateAndJoin(3);
  auto t = c.RunUntil([&] { return c.AllRunningSeeEachOtherAlive() && c.AllRunningAgreed(); },
                      seconds(10));
  ASSERT_TRUE(t.has_value()) << "3 nodes did not converge";
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(c.m(i).live_count(), 3u);
    EXPECT_EQ(c.m(i).ViewDigest(), c.m(0).ViewDigest());
  }
}

TEST_P(MembershipSimTest, HundredNodesJoinAndAgree) {
  SimCluster c(seed(), MeshOptions::Local(), milliseconds(5));
  c.CreateAndJoin(100);
  auto alive =
      c.RunUntil([&] { return c.AllRunningSeeEachOtherAlive(); }, seconds(60), milliseconds(200));
  ASSERT_TRUE(alive.has_value()) << "100 nodes did not all see each other";
  auto agreed = c.RunUntil([&] { return c.AllRunningAgreed(); }, seconds(120), milliseconds(200));
  ASSERT_TRUE(agreed.has_value()) << "views equal but Agreed() not reached";
  std::printf("100-node join: all alive after %.1f s, agreed %.1f s later (Local profile)\n",
              Secs(*alive), Secs(*agreed));
  EXPECT_EQ(c.DeadEventsAbout("node-0"), 0u);
}

TEST_P(MembershipSimTest, KilledNodeIsDeclaredDeadByAllWithinBound) {
  const MeshOptions options = MeshOptions::Local();
  SimCluster c(seed(), options, milliseconds(5));
  c.CreateAndJoin(8);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllRunningSeeEachOtherAlive(); }, seconds(10)));
  c.Run(seconds(2));
  const std::size_t victim = 1 + seed() % 7;
  const std::string name = c.node(victim).name;
  c.Kill(victim);
  const TimePoint killed = c.now();
  auto t = c.RunUntil([&] { return c.AllRunningSee(name, MemberState::kDead); }, seconds(30),
                      milliseconds(5));
  ASSERT_TRUE(t.has_value()) << name << " never declared dead by everyone";
  const Duration bound = DetectionBound(options, 8);
  auto first = c.FirstEvent(MembershipEventKind::kSuspect, name);
  ASSERT_TRUE(first.has_value());
  std::printf(
      "seed %llu: %s first suspected after %.2f s, dead at all after %.2f s (bound %.2f s)\n",
      static_cast<unsigned long long>(seed()), name.c_str(), Secs(*first - killed), Secs(*t),
      Secs(bound));
  EXPECT_LE(*t, bound);
  EXPECT_LT(*t, seconds(3)) << "Local profile promises < 3 s for 8 workers";
  // Nobody else was hurt.
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (i != victim) {
      EXPECT_EQ(c.DeadEventsAbout(c.node(i).name), 0u);
    }
  }
}

TEST_P(MembershipSimTest, PartitionThenHealConverges) {
  SimCluster c(seed(), MeshOptions::Local(), milliseconds(5));
  c.CreateAndJoin(8);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllRunningSeeEachOtherAlive(); }, seconds(10)));
  std::vector<std::string> a, b;
  for (std::size_t i = 0; i < 8; ++i) (i < 4 ? a : b).push_back(c.node(i).endpoint);
  c.net().Partition({a, b});
  auto split = c.RunUntil(
      [&] {
        for (std::size_t i = 0; i < 8; ++i) {
          if (c.m(i).live_count() != 4) return false;
        }
        return true;
      },
      seconds(30));
  ASSERT_TRUE(split.has_value()) << "the halves never gave each other up";
  c.net().Heal();
  auto healed = c.RunUntil([&] { return c.AllRunningSeeEachOtherAlive() && c.AllRunningAgreed(); },
                           seconds(60));
  ASSERT_TRUE(healed.has_value()) << "views did not converge after heal";
  std::printf("partition: halves split after %.1f s, merged %.1f s after heal\n", Secs(*split),
              Secs(*healed));
}

// A node cut off from everyone declares its peers dead in its own view, at the incarnations
// they still have everywhere else. After the heal, the verdicts still queued for gossip must
// not kill those healthy members elsewhere (a dead verdict beats alive at equal incarnation:
// 20 of 30 runs of this scenario had every healthy node see a healthy member die, whose
// partitions the loaders then took over). Healed after 1, 3 and 5 of its peers were dead.
TEST_P(MembershipSimTest, HealedCutOffNodeDoesNotKillHealthyMembers) {
  for (const int dead_needed : {1, 3, 5}) {
    SimCluster c(seed(), MeshOptions::Local(), milliseconds(5));
    const std::size_t n = 6, cut = n - 1;
    c.CreateAndJoin(n);
    ASSERT_TRUE(c.RunUntil([&] { return c.AllRunningSeeEachOtherAlive() && c.AllRunningAgreed(); },
                           seconds(20)));
    std::vector<std::string> rest, lone{c.node(cut).endpoint};
    for (std::size_t i = 0; i < cut; ++i) rest.push_back(c.node(i).endpoint);
    c.net().Partition({rest, lone});
    ASSERT_TRUE(c.RunUntil(
        [&] {
          int dead = 0;
          for (std::size_t i = 0; i < cut; ++i) {
            dead += c.StateIn(cut, c.node(i).name) == MemberState::kDead;
          }
          return dead >= dead_needed;
        },
        seconds(60), milliseconds(5)));
    c.net().Heal();
    c.ClearEvents();
    EXPECT_TRUE(c.RunUntil([&] { return c.AllRunningSeeEachOtherAlive() && c.AllRunningAgreed(); },
                           seconds(60))
                    .has_value())
        << "views did not converge after heal";
    for (std::size_t i = 0; i < cut; ++i) {
      for (const MembershipEvent& e : c.node(i).events) {
        EXPECT_FALSE(e.kind == MembershipEventKind::kDead && e.member.name != c.node(cut).name)
            << "healed after " << dead_needed << " verdicts: " << c.node(i).name << " saw healthy "
            << e.member.name << " die";
      }
    }
  }
}

TEST_P(MembershipSimTest, NoFalseDeathAtTenPercentLoss) {
  const MeshOptions options = MeshOptions::Lan();
  SimCluster c(seed(), options, milliseconds(10));
  c.CreateAndJoin(16);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllRunningSeeEachOtherAlive(); }, seconds(30)));
  c.ClearEvents();
  c.net().SetDropRate(0.10);
  c.Run(options.probe_interval * 1000);
  std::size_t suspicions = 0;
  for (std::size_t i = 0; i < c.size(); ++i) {
    EXPECT_EQ(c.DeadEventsAbout(c.node(i).name), 0u) << c.node(i).name << " declared dead";
    for (const MembershipEvent& e : c.node(i).events) {
      suspicions += e.kind == MembershipEventKind::kSuspect;
    }
  }
  std::printf("10%% loss, 16 nodes, 1000 periods: %zu suspect events, no deaths expected\n",
              suspicions);
  EXPECT_TRUE(c.AllRunningSeeEachOtherLive());
}

TEST_P(MembershipSimTest, SlowNodeBelowTimeoutIsNotDeclaredDead) {
  const MeshOptions options = MeshOptions::Lan();
  SimCluster c(seed(), options, milliseconds(10));
  c.CreateAndJoin(8);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllRunningSeeEachOtherAlive(); }, seconds(30)));
  c.ClearEvents();
  // 300 ms on every message it receives: its acks come back late but inside probe_timeout.
  c.net().SetProcessingDelay(c.node(3).endpoint, milliseconds(300));
  c.Run(options.probe_interval * 200);
  for (std::size_t i = 0; i < c.size(); ++i) {
    EXPECT_EQ(c.DeadEventsAbout(c.node(i).name), 0u) << c.node(i).name;
  }
  EXPECT_TRUE(c.AllRunningSeeEachOtherLive());
}

TEST_P(MembershipSimTest, FalselySuspectedNodeRefutesWithHigherIncarnation) {
  SimCluster c(seed(), MeshOptions::Local(), milliseconds(5));
  c.CreateAndJoin(8);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllRunningSeeEachOtherAlive(); }, seconds(10)));
  c.ClearEvents();
  const std::string victim = c.node(5).name;
  // Nothing reaches the victim for a while: its peers' probes fail and they suspect it.
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (i != 5) c.net().BlockLink(c.node(i).endpoint, c.node(5).endpoint);
  }
  ASSERT_TRUE(
      c.RunUntil([&] { return c.FirstEvent(MembershipEventKind::kSuspect, victim).has_value(); },
                 seconds(10), milliseconds(5)));
  c.net().Heal();
  auto refuted = c.RunUntil([&] { return c.AllRunningSee(victim, MemberState::kAlive); },
                            seconds(10), milliseconds(5));
  ASSERT_TRUE(refuted.has_value()) << "suspicion not refuted";
  EXPECT_GE(c.m(5).incarnation(), 1u);
  // It may have refuted more than once (several accusers); the last one reaches everybody.
  c.Run(seconds(3));
  for (std::size_t i = 0; i < c.size(); ++i) {
    EXPECT_EQ(c.m(i).Member(victim)->incarnation, c.m(5).incarnation()) << c.node(i).name;
  }
  EXPECT_EQ(c.DeadEventsAbout(victim), 0u);
  EXPECT_TRUE(c.FirstEvent(MembershipEventKind::kAlive, victim).has_value());
}

TEST_P(MembershipSimTest, GracefulLeaveIsSeenAsLeftWithinTwoPeriods) {
  const MeshOptions options = MeshOptions::Local();
  SimCluster c(seed(), options, milliseconds(5));
  c.CreateAndJoin(8);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllRunningSeeEachOtherAlive(); }, seconds(10)));
  const std::string leaver = c.node(2).name;
  ASSERT_TRUE(c.m(2).Leave().ok());
  EXPECT_TRUE(c.m(2).Leave().IsDeadlineExceeded() || !c.m(2).Leave().ok());
  c.Run(options.probe_interval * 2);
  EXPECT_TRUE(c.AllRunningSee(leaver, MemberState::kLeft));
  EXPECT_EQ(c.DeadEventsAbout(leaver), 0u);
  // And it stays left rather than decaying into dead.
  c.Run(seconds(10));
  EXPECT_TRUE(c.AllRunningSee(leaver, MemberState::kLeft));
}

TEST_P(MembershipSimTest, SameNameFromAnotherEndpointIsReportedAsConflict) {
  SimCluster c(seed(), MeshOptions::Local(), milliseconds(5));
  c.CreateAndJoin(4);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllRunningSeeEachOtherAlive(); }, seconds(10)));
  const std::size_t impostor = c.AddNamed("node-2", "sim://impostor");
  c.JoinVia(impostor, 0);
  c.Run(seconds(3));
  bool reported = false;
  for (const MembershipEvent& e : c.node(0).events) {
    if (e.kind == MembershipEventKind::kIdentityConflict) {
      reported = true;
      EXPECT_EQ(e.member.name, "node-2");
      EXPECT_EQ(e.member.endpoint, "sim://node-2");
      EXPECT_EQ(e.conflicting_endpoint, "sim://impostor");
    }
  }
  EXPECT_TRUE(reported);
  // The live original keeps its identity everywhere it was known.
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(c.m(i).Member("node-2")->endpoint, "sim://node-2");
  }
}

TEST_P(MembershipSimTest, RestartedNodeRejoinsAboveItsOldIncarnation) {
  SimCluster c(seed(), MeshOptions::Local(), milliseconds(5));
  c.CreateAndJoin(6);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllRunningSeeEachOtherAlive(); }, seconds(10)));
  c.Kill(4);
  ASSERT_TRUE(
      c.RunUntil([&] { return c.AllRunningSee("node-4", MemberState::kDead); }, seconds(30)));
  const std::uint64_t old_incarnation = c.m(0).Member("node-4")->incarnation;
  c.Restart(4, 0);
  auto back = c.RunUntil([&] { return c.AllRunningSeeEachOtherAlive(); }, seconds(20));
  ASSERT_TRUE(back.has_value()) << "restarted node not accepted back";
  EXPECT_GT(c.m(4).incarnation(), old_incarnation);
  EXPECT_TRUE(c.FirstEvent(MembershipEventKind::kAlive, "node-4").has_value());
}

INSTANTIATE_TEST_SUITE_P(Seeds, MembershipSimTest, ::testing::Range<std::uint64_t>(1, 11));

class MembershipLargeSimTest : public ::testing::Test {};

// 1,000 nodes: join, then one crash detected by all. Local timing keeps simulated time short.
TEST_F(MembershipLargeSimTest, ThousandNodesJoinAndDetectOneDeath) {
  const auto wall_start = std::chrono::steady_clock::now();
  MeshOptions options = MeshOptions::Local();
  SimCluster c(7, options, milliseconds(10));
  c.set_record_events(false);
  c.CreateAndJoin(1000);
  auto joined =
      c.RunUntil([&] { return c.AllRunningSeeEachOtherAlive(); }, seconds(300), seconds(1));
  ASSERT_TRUE(joined.has_value()) << "1000 nodes did not converge";
  c.Kill(500);
  auto dead = c.RunUntil([&] { return c.AllRunningSee("node-500", MemberState::kDead); },
                         seconds(120), milliseconds(100));
  ASSERT_TRUE(dead.has_value()) << "death not detected by all";
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  std::printf(
      "1000 nodes: joined in %.1f s simulated, death known to all after %.1f s "
      "simulated (bound %.1f s); wall time %.1f s\n",
      Secs(*joined), Secs(*dead), Secs(DetectionBound(options, 1000)), wall);
  EXPECT_LE(*dead, DetectionBound(options, 1000));
}

}  // namespace
}  // namespace shardmesh::mesh
