#include "shardmesh/checkpoint/checkpoint_file.h"

#include <gtest/gtest.h>

#include <string>

#include "shardmesh/common/hash.h"

namespace shardmesh::checkpoint {
namespace {

class CheckpointFileTest : public ::testing::Test {};

TEST_F(CheckpointFileTest, RoundTripsSequenceAndPayload) {
  const std::string payload = "trainer state \x00\x01\x02 bytes";
  const std::string file = EncodeCheckpointFile(123456789012345ULL, AsBytes(payload));
  ASSERT_EQ(file.size(), kCheckpointHeaderSize + payload.size());
  EXPECT_EQ(file.substr(0, 4), "SMCK");
  auto view = DecodeCheckpointFile(AsBytes(file));
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->sequence, 123456789012345ULL);
  EXPECT_EQ(AsChars(view->payload), payload);
}

TEST_F(CheckpointFileTest, HeaderFieldsAreLittleEndianAtFixedOffsets) {
  const std::string payload = "abc";
  const std::string file = EncodeCheckpointFile(0x0102030405060708ULL, AsBytes(payload));
  EXPECT_EQ(static_cast<unsigned char>(file[4]), kCheckpointFileVersion);
  EXPECT_EQ(static_cast<unsigned char>(file[8]), 0x08);
  EXPECT_EQ(static_cast<unsigned char>(file[15]), 0x01);
  EXPECT_EQ(static_cast<unsigned char>(file[16]), 3);  // payload size
  std::uint64_t h = 0;
  for (int i = 7; i >= 0; --i) h = (h << 8) | static_cast<unsigned char>(file[24 + i]);
  EXPECT_EQ(h, Hash64(payload));
}

TEST_F(CheckpointFileTest, EverySingleByteFlipIsDetected) {
  const std::string payload = "0123456789abcdef";
  const std::string good = EncodeCheckpointFile(77, AsBytes(payload));
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    EXPECT_FALSE(DecodeCheckpointFile(AsBytes(bad)).ok()) << "flip at byte " << i;
  }
}

TEST_F(CheckpointFileTest, RejectsTruncationAndTrailingBytes) {
  const std::string good = EncodeCheckpointFile(1, AsBytes(std::string(100, 'p')));
  for (std::size_t len : {std::size_t{0}, std::size_t{3}, kCheckpointHeaderSize - 1,
                          kCheckpointHeaderSize, good.size() - 1}) {
    auto r = DecodeCheckpointFile(AsBytes(good.substr(0, len)));
    ASSERT_FALSE(r.ok()) << len;
    EXPECT_TRUE(r.status().IsCorruption()) << len;
    EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().ToString();
  }
  auto trailing = DecodeCheckpointFile(AsBytes(good + "zz"));
  ASSERT_FALSE(trailing.ok());
  EXPECT_NE(trailing.status().message().find("2 trailing bytes"), std::string::npos);
}

TEST_F(CheckpointFileTest, UnknownVersionIsInvalidArgumentEvenWithValidChecksum) {
  CheckpointHeader h;
  h.version = kCheckpointFileVersion + 1;
  h.payload_size = 0;
  h.payload_hash = Hash64(std::string_view());
  const std::string header = EncodeCheckpointHeader(h);
  auto r = DecodeCheckpointHeader(AsBytes(header));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("version 2"), std::string::npos);
}

TEST_F(CheckpointFileTest, RejectsOtherMagic) {
  std::string file = EncodeCheckpointFile(1, AsBytes(std::string("x")));
  file[3] = 'S';  // "SMCS"
  auto r = DecodeCheckpointFile(AsBytes(file));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("magic"), std::string::npos);
}

}  // namespace
}  // namespace shardmesh::checkpoint
