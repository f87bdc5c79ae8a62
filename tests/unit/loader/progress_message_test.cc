#include "shardmesh/loader/progress_message.h"

#include <gtest/gtest.h>

#include <string>

namespace shardmesh::loader {
namespace {

TEST(ProgressCodecTest, RoundTrips) {
  ProgressMessage m;
  m.epoch = 3;
  m.plan_digest = 0x1234567890abcdefULL;
  m.all_done = true;
  m.members = {"w0", "w1"};
  m.entries = {{0, 1, 17}, {5, 0, 1ull << 40}};
  m.handovers = {{5, PartitionTable::kHandoverStride, "late-joiner"}};
  auto back = DecodeProgress(EncodeProgress(m));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, m);
}

// Without handover records a message is version 1, which workers predating handovers read; a
// version 2 message with an empty handover list decodes to the same content.
TEST(ProgressCodecTest, WithoutHandoversItIsVersionOne) {
  ProgressMessage m;
  m.members = {"w0", "w1"};
  m.entries = {{0, 1, 17}};
  const std::string v1 = EncodeProgress(m);
  EXPECT_EQ(v1[4], 1);
  auto back = DecodeProgress(v1);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, m);
  EXPECT_FALSE(DecodeProgress(v1 + "xxxx").ok()) << "version 1 has nothing after the entries";
  std::string v2 = v1 + std::string(4, '\0');
  v2[4] = 2;
  back = DecodeProgress(v2);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, m);
  m.handovers = {{0, PartitionTable::kHandoverStride, "g"}};
  EXPECT_EQ(EncodeProgress(m)[4], 2);
}
TEST(ProgressCodecTest, RejectsDamagedMessagesWithAReason) {
  ProgressMessage m;
  m.members = {"w0"};
  m.entries = {{0, 0, 1}};
  m.handovers = {{0, PartitionTable::kHandoverStride, "g"}};
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
