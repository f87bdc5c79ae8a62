#include "awareness.h"

#include <gtest/gtest.h>

#include <chrono>

namespace shardmesh::mesh {
namespace {

using std::chrono::milliseconds;

class AwarenessTest : public ::testing::Test {};

TEST_F(AwarenessTest, ScoreIsClampedToRange) {
  Awareness a(8);
  EXPECT_EQ(a.score(), 0);
  a.ApplyDelta(-1);
  EXPECT_EQ(a.score(), 0);
  a.ApplyDelta(3);
  EXPECT_EQ(a.score(), 3);
  a.ApplyDelta(100);
  EXPECT_EQ(a.score(), 7);
  a.ApplyDelta(-2);
  EXPECT_EQ(a.score(), 5);
}

TEST_F(AwarenessTest, TimeoutScalesByOnePlusScore) {
  Awareness a(8);
  EXPECT_EQ(a.ScaleTimeout(milliseconds(500)), milliseconds(500));
  a.ApplyDelta(1);
  EXPECT_EQ(a.ScaleTimeout(milliseconds(500)), milliseconds(1000));
  a.ApplyDelta(10);
  EXPECT_EQ(a.ScaleTimeout(milliseconds(500)), milliseconds(4000));
}

TEST_F(AwarenessTest, MaxOneDisablesScaling) {
  Awareness a(1);
  a.ApplyDelta(5);
  EXPECT_EQ(a.score(), 0);
  EXPECT_EQ(a.ScaleTimeout(milliseconds(500)), milliseconds(500));
}

}  // namespace
}  // namespace shardmesh::mesh
