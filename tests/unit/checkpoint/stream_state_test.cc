#include "shardmesh/checkpoint/stream_state.h"

#include <gtest/gtest.h>

#include <string>

#include "shardmesh/common/hash.h"

namespace shardmesh::checkpoint {
namespace {

StreamState Sample(std::size_t cursors) {
  StreamState s;
  s.epoch = 12;
  s.seed = 0xdeadbeefcafef00dULL;
  s.world_size = 7;
  s.rank = 3;
  s.position = 142857;
  s.sequence_length = 142858;
  s.plan_digest = 0x0123456789abcdefULL;
  s.membership_digest = 77;
  s.timestamp_ms = 1763780000000;
  s.strategy = 2;
  for (std::uint32_t p = 0; p < cursors; ++p) s.cursors.push_back({p * 7 + 3, 15600 + p});
  return s;
}

class StreamStateTest : public ::testing::Test {};

TEST_F(StreamStateTest, RoundTripsEveryField) {
  const StreamState s = Sample(10);
  const std::string bytes = EncodeStreamState(s);
  auto back = DecodeStreamState(AsBytes(bytes));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, s);
}

TEST_F(StreamStateTest, NegativeTimestampAndEmptyCursorsRoundTrip) {
  StreamState s = Sample(0);
  s.timestamp_ms = -5;
  auto back = DecodeStreamState(AsBytes(EncodeStreamState(s)));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, s);
}

TEST_F(StreamStateTest, MillionSampleEpochFitsInAFewKilobytes) {
  // 1M samples, 1024 canonical partitions (mesh mode's default), cursors ~ 1000 each.
  StreamState s = Sample(0);
  s.sequence_length = 1000000;
  s.position = 654321;
  for (std::uint32_t p = 0; p < 1024; ++p) s.cursors.push_back({p, 600 + p % 400});
  const std::string bytes = EncodeStreamState(s);
  EXPECT_LT(bytes.size(), 5 * 1024u);
  // Static mode, 64 partitions: well under a kilobyte.
  s.cursors.resize(64);
  EXPECT_LT(EncodeStreamState(s).size(), 512u);
}

// One cursor per partition up to the loaders' bound (2^20 partitions) round-trips: the decoder
// counted array elements, two per cursor, so states past 2^19 cursors were written and then
// refused as corrupt at every restart.
TEST_F(StreamStateTest, CursorsUpToTheLoadersPartitionBoundRoundTrip) {
  StreamState s = Sample(0);
  for (std::uint32_t p = 0; p < (1u << 20); ++p) s.cursors.push_back({p, p % 3});
  auto back = DecodeStreamState(AsBytes(EncodeStreamState(s)));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->cursors.size(), s.cursors.size());
  s.cursors.push_back({1u << 20, 1});
  EXPECT_FALSE(DecodeStreamState(AsBytes(EncodeStreamState(s))).ok());
}

TEST_F(StreamStateTest, RejectsBadMagic) {
  std::string bytes = EncodeStreamState(Sample(3));
  bytes[0] = 'X';
  auto r = DecodeStreamState(AsBytes(bytes));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("magic"), std::string::npos);
}

TEST_F(StreamStateTest, RejectsEveryFlippedByte) {
  const std::string good = EncodeStreamState(Sample(3));
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    auto r = DecodeStreamState(AsBytes(bad));
    EXPECT_FALSE(r.ok()) << "flip at byte " << i << " was accepted";
  }
}

TEST_F(StreamStateTest, RejectsEveryTruncation) {
  const std::string good = EncodeStreamState(Sample(3));
  for (std::size_t n = 0; n < good.size(); ++n) {
    auto r = DecodeStreamState(AsBytes(std::string_view(good).substr(0, n)));
    ASSERT_FALSE(r.ok()) << "truncated to " << n << " bytes was accepted";
    EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  }
}

// Re-frames `body` with a valid magic and checksum, so the body parser itself is exercised.
std::string Frame(std::string body) {
  std::string out = "SMSS" + body;
  const std::uint64_t h = Hash64(out);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((h >> (8 * i)) & 0xff));
  return out;
}

TEST_F(StreamStateTest, RejectsUnknownVersionWithAClearMessage) {
  std::string bytes = EncodeStreamState(Sample(1));
  // Body starts with fixarray(12) then the version as a positive fixint.
  std::string body = bytes.substr(4, bytes.size() - 12);
  ASSERT_EQ(static_cast<unsigned char>(body[1]), kStreamStateVersion);
  body[1] = 9;
  auto r = DecodeStreamState(AsBytes(Frame(body)));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidArgument());
  EXPECT_NE(r.status().message().find("version 9"), std::string::npos) << r.status().message();
}

TEST_F(StreamStateTest, RejectsWellFramedGarbageBodies) {
  const std::string cases[] = {
      std::string("\x93\x01\x02\x03", 4),      // too few fields
      std::string("\xc0", 1),                  // nil
      std::string("\xdd\xff\xff\xff\xff", 5),  // array claiming 4G elements
      std::string("\x9c\x01", 2),              // truncated array
  };
  // A cursor list whose partitions do not increase.
  StreamState s = Sample(2);
  s.cursors[1].partition = s.cursors[0].partition;
  std::string dup = EncodeStreamState(s);
  EXPECT_FALSE(DecodeStreamState(AsBytes(dup)).ok());
  for (const auto& body : cases) {
    auto r = DecodeStreamState(AsBytes(Frame(body)));
    EXPECT_FALSE(r.ok());
  }
}

TEST_F(StreamStateTest, RejectsTrailingBytesAndInconsistentFields) {
  std::string bytes = EncodeStreamState(Sample(1));
  std::string body = bytes.substr(4, bytes.size() - 12);
  EXPECT_FALSE(DecodeStreamState(AsBytes(Frame(body + '\x01'))).ok());
  StreamState s = Sample(1);
  s.position = s.sequence_length + 1;
  auto r = DecodeStreamState(AsBytes(EncodeStreamState(s)));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("position"), std::string::npos);
}

}  // namespace
}  // namespace shardmesh::checkpoint
