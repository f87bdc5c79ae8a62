// The rule by which a mesh-loader worker forgets a member it declared dead (revived_members.h):
// only a member live again that it never took partitions from.
#include "revived_members.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace shardmesh::loader::internal {
namespace {

using Names = std::set<std::string>;

TEST(RevivedMembersTest, ALiveMemberNeverActedOnIsForgotten) {
  Names dead = {"w1", "w2"};
  // w1 refuted the verdict before this worker had a quorum; w2 is still down.
  EXPECT_EQ(ForgetRevived(dead, /*acted_on=*/{}, /*live=*/{"w0", "w1"}),
            std::vector<std::string>{"w1"});
  EXPECT_EQ(dead, Names{"w2"});
}

TEST(RevivedMembersTest, AMemberActedOnStaysDeadForTheEpoch) {
  Names dead = {"w1", "w2"};
  // The takeover ran with w1 dead: its raised terms stand even though it is live again.
  EXPECT_TRUE(ForgetRevived(dead, /*acted_on=*/{"w1"}, /*live=*/{"w0", "w1", "w2"}) ==
              std::vector<std::string>{"w2"});
  EXPECT_EQ(dead, Names{"w1"});
}

TEST(RevivedMembersTest, NothingLiveNothingForgotten) {
  Names dead = {"w1"};
  EXPECT_TRUE(ForgetRevived(dead, {}, {"w0"}).empty());
  EXPECT_EQ(dead, Names{"w1"});
  Names none;
  EXPECT_TRUE(ForgetRevived(none, {}, {"w0", "w1"}).empty());
}

}  // namespace
}  // namespace shardmesh::loader::internal
