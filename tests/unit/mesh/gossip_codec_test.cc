#include "gossip_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace shardmesh::mesh {
namespace {

class GossipCodecTest : public ::testing::Test {
 protected:
  static GossipPayload Sample() {
    GossipPayload p;
    p.seq = 42;
    p.target = "node-2";
    p.target_endpoint = "sim://node-2";
    p.digest = 0xdeadbeefcafef00dULL;
    p.nack_after_us = 300000;
    p.flags = kGossipFlagJoin;
    p.updates.push_back({MemberState::kSuspect, "node-3", "sim://node-3", 7, "node-1"});
    p.updates.push_back({MemberState::kLeft, "node-4", "sim://node-4", 0, "node-4"});
    return p;
  }
};

TEST_F(GossipCodecTest, RoundTripsEveryField) {
  const GossipPayload p = Sample();
  Result<GossipPayload> back = DecodeGossipPayload(AsBytes(EncodeGossipPayload(p)));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, p);
}

TEST_F(GossipCodecTest, PreEncodedUpdatesAreAppended) {
  GossipPayload p = Sample();
  const GossipUpdate extra{MemberState::kAlive, "node-9", "sim://node-9", 3, "node-9"};
  std::vector<std::string> raw{EncodeGossipUpdate(extra)};
  Result<GossipPayload> back = DecodeGossipPayload(AsBytes(EncodeGossipPayload(p, raw)));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->updates.size(), 3u);
  EXPECT_EQ(back->updates[2], extra);
}

TEST_F(GossipCodecTest, OverheadBoundsEmptyPayloadSize) {
  GossipPayload p = Sample();
  p.updates.clear();
  EXPECT_LE(EncodeGossipPayload(p).size(), GossipPayloadOverhead(p));
}

TEST_F(GossipCodecTest, EveryTruncationIsCorruption) {
  const std::string bytes = EncodeGossipPayload(Sample());
  for (std::size_t len = 0; len < bytes.size(); ++len) {
    Result<GossipPayload> r = DecodeGossipPayload(AsBytes(std::string_view(bytes).substr(0, len)));
    ASSERT_FALSE(r.ok()) << "length " << len;
    EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  }
}

TEST_F(GossipCodecTest, ErrorsNameTheField) {
  // [seq="x", ...]: seq must be an unsigned integer.
  const std::string bad_seq("\x97\xa1x\xa0\xa0\x00\x00\x00\x90", 9);
  Result<GossipPayload> r = DecodeGossipPayload(AsBytes(bad_seq));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'seq'"), std::string::npos) << r.status().ToString();

  // One update whose state is 9 (no such state).
  const std::string bad_state =
      std::string("\x97\x01\xa0\xa0\x00\x00\x00\x91\x95\x09\xa1n\xa0\x00\xa0", 15);
  r = DecodeGossipPayload(AsBytes(bad_state));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("updates[0].state"), std::string::npos)
      << r.status().ToString();

  // Not an array at all.
  r = DecodeGossipPayload(AsBytes(std::string("\x2a", 1)));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'payload'"), std::string::npos);
}

TEST_F(GossipCodecTest, RejectsTrailingBytesAndEmptyNames) {
  std::string bytes = EncodeGossipPayload(Sample()) + "x";
  EXPECT_TRUE(DecodeGossipPayload(AsBytes(bytes)).status().IsCorruption());
  GossipPayload p;
  p.updates.push_back({MemberState::kAlive, "", "e", 0, ""});
  EXPECT_TRUE(DecodeGossipPayload(AsBytes(EncodeGossipPayload(p))).status().IsCorruption());
}

TEST_F(GossipCodecTest, RejectsOversizedStringsAndArraysWithoutAllocating) {
  // A str32 header claiming 4 GiB.
  const std::string huge_str = std::string("\x97\x01\xdb\xff\xff\xff\xff", 7);
  EXPECT_TRUE(DecodeGossipPayload(AsBytes(huge_str)).status().IsCorruption());
  // An array32 header claiming 4 billion updates.
  const std::string huge_array =
      std::string("\x97\x01\xa0\xa0\x00\x00\x00\xdd\xff\xff\xff\xff", 12);
  EXPECT_TRUE(DecodeGossipPayload(AsBytes(huge_array)).status().IsCorruption());
}

TEST_F(GossipCodecTest, AcceptsExtraTrailingFieldsFromNewerPeers) {
  // payload with 8 elements and an update with 6: future fields are ignored.
  const std::string newer =
      std::string("\x98\x05\xa0\xa0\x00\x00\x00\x91\x96\x00\xa1n\xa0\x01\xa0\xc0\xc0", 17);
  Result<GossipPayload> r = DecodeGossipPayload(AsBytes(newer));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->seq, 5u);
  ASSERT_EQ(r->updates.size(), 1u);
  EXPECT_EQ(r->updates[0].name, "n");
  EXPECT_EQ(r->updates[0].incarnation, 1u);
}

}  // namespace
}  // namespace shardmesh::mesh
