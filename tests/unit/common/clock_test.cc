#include "shardmesh/common/clock.h"

#include <gtest/gtest.h>

namespace shardmesh {
namespace {

TEST(ManualClockTest, MovesOnlyWhenAdvanced) {
  ManualClock clock;
  const TimePoint t0 = clock.Now();
  EXPECT_EQ(clock.Now(), t0);
  clock.Advance(std::chrono::milliseconds(250));
  EXPECT_EQ(clock.Now() - t0, std::chrono::milliseconds(250));
}

TEST(SystemClockTest, IsMonotonic) {
  auto& c = SystemClock::Instance();
  const TimePoint a = c.Now();
  const TimePoint b = c.Now();
  EXPECT_LE(a, b);
  EXPECT_GT(c.WallMillis(), 1'600'000'000'000);
}

}  // namespace
}  // namespace shardmesh
