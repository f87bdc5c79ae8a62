#include "suspicion.h"

#include <gtest/gtest.h>

#include <chrono>

#include "shardmesh/mesh/mesh_options.h"

namespace shardmesh::mesh {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class SuspicionTest : public ::testing::Test {
 protected:
  const TimePoint start_ = TimePoint(seconds(100));
};

// memberlist suspicionTimeout(): mult * max(1, log10(max(1, n))) * interval.
TEST_F(SuspicionTest, MinTimeoutFollowsMemberlistFormula) {
  struct Case {
    std::uint32_t mult;
    std::size_t n;
    Duration interval;
    Duration expected;
  };
  for (const Case& c : {
           Case{4, 0, seconds(1), seconds(4)},  // log10 clamps to 1
           Case{4, 1, seconds(1), seconds(4)},
           Case{4, 10, seconds(1), seconds(4)},          // log10(10) = 1
           Case{4, 100, seconds(1), seconds(8)},         // log10(100) = 2
           Case{4, 1000, seconds(1), seconds(12)},       // 3
           Case{4, 16, seconds(1), milliseconds(4816)},  // log10(16) = 1.204 -> 1204 milli
           Case{3, 8, milliseconds(200), milliseconds(600)},
       }) {
    EXPECT_EQ(SuspicionMinTimeout(c.mult, c.n, c.interval), c.expected)
        << "mult " << c.mult << " n " << c.n;
  }
}

TEST_F(SuspicionTest, RetransmitLimitIsMultTimesCeilLog10) {
  EXPECT_EQ(RetransmitLimit(4, 1), 4u);      // ceil(log10 2) = 1
  EXPECT_EQ(RetransmitLimit(4, 9), 4u);      // log10 10 = 1
  EXPECT_EQ(RetransmitLimit(4, 10), 8u);     // log10 11 -> 2
  EXPECT_EQ(RetransmitLimit(4, 1000), 16u);  // log10 1001 -> 4
}

TEST_F(SuspicionTest, StartsAtMaxWithoutConfirmations) {
  Suspicion s("a", 2, seconds(4), seconds(24), start_);
  EXPECT_EQ(s.Deadline(), start_ + seconds(24));
}

TEST_F(SuspicionTest, StartsAtMinWhenNoConfirmationsExpected) {
  Suspicion s("a", 0, seconds(4), seconds(24), start_);
  EXPECT_EQ(s.Deadline(), start_ + seconds(4));
  EXPECT_FALSE(s.Confirm("b"));
  EXPECT_EQ(s.Deadline(), start_ + seconds(4));
}

// memberlist TestSuspicion_remainingSuspicionTime: k = 3, min 2 s, max 30 s.
TEST_F(SuspicionTest, TimeoutDecaysLogarithmicallyWithConfirmations) {
  const Duration min = seconds(2);
  const Duration max = seconds(30);
  EXPECT_EQ(Suspicion::Timeout(0, 3, min, max), seconds(30));
  EXPECT_EQ(Suspicion::Timeout(1, 3, min, max), milliseconds(16000));  // 30 - 0.5 * 28
  EXPECT_EQ(Suspicion::Timeout(2, 3, min, max), milliseconds(7810));   // 30 - log3/log4*28
  EXPECT_EQ(Suspicion::Timeout(3, 3, min, max), seconds(2));
  EXPECT_EQ(Suspicion::Timeout(4, 3, min, max), seconds(2));  // floored at min
}

TEST_F(SuspicionTest, ConfirmCountsEachPeerOnceAndNotTheAccuser) {
  Suspicion s("accuser", 3, seconds(2), seconds(30), start_);
  EXPECT_FALSE(s.Confirm("accuser"));
  EXPECT_TRUE(s.Confirm("b"));
  EXPECT_FALSE(s.Confirm("b"));
  EXPECT_EQ(s.confirmations(), 1u);
  EXPECT_EQ(s.Deadline(), start_ + milliseconds(16000));
  EXPECT_TRUE(s.Confirm("c"));
  EXPECT_TRUE(s.Confirm("d"));
  EXPECT_EQ(s.Deadline(), start_ + seconds(2));
  EXPECT_FALSE(s.Confirm("e"));  // k reached: no more re-gossip
}

}  // namespace
}  // namespace shardmesh::mesh
