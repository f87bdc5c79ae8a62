#include "shardmesh/mesh/envelope.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace shardmesh::mesh {
namespace {

// Minimal hand-written msgpack encoders, independent of the codec under test, so malformed
// headers can be built byte by byte.
std::string FixArray(std::uint8_t n) { return std::string(1, static_cast<char>(0x90 | n)); }
std::string PosInt(std::uint8_t v) { return std::string(1, static_cast<char>(v & 0x7f)); }
std::string FixStr(const std::string& s) {
  return std::string(1, static_cast<char>(0xa0 | s.size())) + s;
}
std::string Uint64(std::uint64_t v) {
  std::string out(1, static_cast<char>(0xcf));
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}

class EnvelopeTest : public ::testing::Test {
 protected:
  static Result<EnvelopeHeader> Decode(const std::string& bytes) {
    return DecodeHeader(AsBytes(bytes));
  }
  static void ExpectCorruptionNaming(const std::string& bytes, const std::string& field) {
    Result<EnvelopeHeader> r = Decode(bytes);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
    EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status().ToString();
  }
  static std::string ValidBody() {
    return PosInt(1) + PosInt(3) + FixStr("node-a") + FixStr("tcp://x:1") + PosInt(9);
  }
};

TEST_F(EnvelopeTest, RoundTripPreservesEveryField) {
  EnvelopeHeader h;
  h.type = MessageType::kBlockResponse;
  h.sender = "worker-17";
  h.sender_endpoint = "tcp://127.0.0.1:7001";
  h.incarnation = 0xFFFFFFFFFFFFFFF0ULL;
  const std::string bytes = EncodeHeader(h);
  Result<EnvelopeHeader> r = Decode(bytes);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->version, kProtocolVersion);
  EXPECT_EQ(r->type, MessageType::kBlockResponse);
  EXPECT_EQ(r->sender, "worker-17");
  EXPECT_EQ(r->sender_endpoint, "tcp://127.0.0.1:7001");
  EXPECT_EQ(r->incarnation, 0xFFFFFFFFFFFFFFF0ULL);
}

TEST_F(EnvelopeTest, HandBuiltHeaderDecodes) {
  Result<EnvelopeHeader> r = Decode(FixArray(5) + ValidBody());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->type, MessageType::kAck);
  EXPECT_EQ(r->sender, "node-a");
  EXPECT_EQ(r->incarnation, 9u);
}

TEST_F(EnvelopeTest, UnknownMessageTypeIsPassedUp) {
  Result<EnvelopeHeader> r =
      Decode(FixArray(5) + PosInt(1) + PosInt(120) + FixStr("n") + FixStr("") + PosInt(0));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(static_cast<int>(r->type), 120);
  EXPECT_EQ(MessageTypeName(r->type), "unknown");
}

TEST_F(EnvelopeTest, MessageTypeNamesAreDistinct) {
  EXPECT_EQ(MessageTypeName(MessageType::kPing), "ping");
  EXPECT_NE(MessageTypeName(MessageType::kPingReq), MessageTypeName(MessageType::kPing));
}

TEST_F(EnvelopeTest, EmptyInputIsRejected) { ExpectCorruptionNaming("", "header"); }

TEST_F(EnvelopeTest, OversizedInputIsRejected) {
  ExpectCorruptionNaming(std::string(kMaxHeaderBytes + 1, '\x01'), "exceeds");
}

TEST_F(EnvelopeTest, EveryTruncationIsRejected) {
  EnvelopeHeader h;
  h.sender = "node";
  h.sender_endpoint = "tcp://127.0.0.1:1";
  const std::string bytes = EncodeHeader(h);
  for (std::size_t len = 1; len < bytes.size(); ++len) {
    Result<EnvelopeHeader> r = Decode(bytes.substr(0, len));
    EXPECT_FALSE(r.ok()) << "prefix of " << len << " bytes decoded";
    EXPECT_TRUE(r.status().IsCorruption());
  }
}

TEST_F(EnvelopeTest, TrailingBytesAreRejected) {
  ExpectCorruptionNaming(FixArray(5) + ValidBody() + "x", "trailing");
}

TEST_F(EnvelopeTest, NonArrayIsRejected) { ExpectCorruptionNaming(FixStr("hello"), "array"); }

TEST_F(EnvelopeTest, WrongArityIsRejected) {
  ExpectCorruptionNaming(FixArray(4) + PosInt(1) + PosInt(3) + FixStr("a") + FixStr("b"),
                         "expected 5 elements");
  ExpectCorruptionNaming(FixArray(6) + ValidBody() + PosInt(0), "expected 5 elements");
  ExpectCorruptionNaming(FixArray(0), "version");
}

TEST_F(EnvelopeTest, UnknownVersionIsRejected) {
  ExpectCorruptionNaming(FixArray(5) + PosInt(2) + PosInt(3) + FixStr("a") + FixStr("") + PosInt(0),
                         "version");
}

TEST_F(EnvelopeTest, WrongFieldTypesAreRejectedNamingTheField) {
  ExpectCorruptionNaming(
      FixArray(5) + FixStr("1") + PosInt(3) + FixStr("a") + FixStr("") + PosInt(0), "'version'");
  ExpectCorruptionNaming(
      FixArray(5) + PosInt(1) + FixStr("t") + FixStr("a") + FixStr("") + PosInt(0), "'type'");
  ExpectCorruptionNaming(FixArray(5) + PosInt(1) + PosInt(3) + PosInt(7) + FixStr("") + PosInt(0),
                         "'sender'");
  ExpectCorruptionNaming(FixArray(5) + PosInt(1) + PosInt(3) + FixStr("a") + PosInt(7) + PosInt(0),
                         "'sender_endpoint'");
  ExpectCorruptionNaming(
      FixArray(5) + PosInt(1) + PosInt(3) + FixStr("a") + FixStr("") + FixStr("x"),
      "'incarnation'");
  // A negative incarnation (fixint -1) is not an unsigned integer.
  ExpectCorruptionNaming(
      FixArray(5) + PosInt(1) + PosInt(3) + FixStr("a") + FixStr("") + std::string(1, '\xff'),
      "'incarnation'");
}

TEST_F(EnvelopeTest, OutOfRangeTypeIsRejected) {
  ExpectCorruptionNaming(
      FixArray(5) + PosInt(1) + Uint64(70000) + FixStr("a") + FixStr("") + PosInt(0), "'type'");
}

TEST_F(EnvelopeTest, EmptySenderIsRejected) {
  ExpectCorruptionNaming(FixArray(5) + PosInt(1) + PosInt(3) + FixStr("") + FixStr("") + PosInt(0),
                         "'sender'");
}

TEST_F(EnvelopeTest, HugeDeclaredLengthsDoNotAllocateOrOverread) {
  // array32 claiming 4 billion elements, str32 claiming 4 GiB: must fail cleanly.
  ExpectCorruptionNaming(std::string("\xdd\xff\xff\xff\xff", 5), "header");
  ExpectCorruptionNaming(
      FixArray(5) + PosInt(1) + PosInt(3) + std::string("\xdb\xff\xff\xff\xff", 5) + "abc",
      "header");
}

TEST_F(EnvelopeTest, DeepNestingIsRejected) {
  ExpectCorruptionNaming(std::string(200, '\x91') + PosInt(1), "header");
}

}  // namespace
}  // namespace shardmesh::mesh
