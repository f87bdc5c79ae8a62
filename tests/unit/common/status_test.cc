#include "shardmesh/common/status.h"

#include <gtest/gtest.h>

namespace shardmesh {
namespace {

Result<int> ParsePositive(int v) {
  if (v <= 0) return Status::InvalidArgument("value " + std::to_string(v) + " is not positive");
  return v;
}

Result<int> Doubled(int v) {
  SHARDMESH_ASSIGN_OR_RETURN(int x, ParsePositive(v));
  return 2 * x;
}

Status Check(int v) {
  SHARDMESH_RETURN_IF_ERROR(ParsePositive(v).status());
  return Status::OK();
}

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ErrorCarriesCodeAndMessage) {
  Status s = Status::Corruption("shard-0001.smd block 7: checksum mismatch");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_EQ(s.ToString(), "corruption: shard-0001.smd block 7: checksum mismatch");
}

TEST(StatusTest, WithContextPrefixesMessageAndKeepsCode) {
  Status s = Status::NotFound("no such file").WithContext("manifest.json");
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_EQ(s.message(), "manifest.json: no such file");
  EXPECT_TRUE(Status::OK().WithContext("x").ok());
}

TEST(ResultTest, AssignOrReturnPropagatesError) {
  EXPECT_EQ(*Doubled(21), 42);
  Result<int> r = Doubled(-1);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidArgument());
  EXPECT_EQ(r.status().message(), "value -1 is not positive");
}

TEST(ResultTest, ReturnIfErrorPropagatesError) {
  EXPECT_TRUE(Check(3).ok());
  EXPECT_TRUE(Check(0).IsInvalidArgument());
}

}  // namespace
}  // namespace shardmesh
