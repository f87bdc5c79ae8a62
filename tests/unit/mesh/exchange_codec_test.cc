#include "exchange_codec.h"

#include <gtest/gtest.h>

#include <msgpack.hpp>

namespace shardmesh::mesh {
namespace {

std::string Pack(const msgpack::sbuffer& b) { return std::string(b.data(), b.size()); }

class ExchangeCodecTest : public ::testing::Test {};

TEST_F(ExchangeCodecTest, RequestRoundTrips) {
  BlockRequestMsg r{42, "digest/3/17"};
  Result<BlockRequestMsg> got = DecodeBlockRequest(AsBytes(EncodeBlockRequest(r)));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->request_id, 42u);
  EXPECT_EQ(got->name, "digest/3/17");
}

TEST_F(ExchangeCodecTest, ResponseRoundTripsWithStatusAndChecksum) {
  BlockResponseMsg r;
  r.request_id = 7;
  r.code = StatusCode::kNotFound;
  r.message = "no such blob";
  r.checksum = 0xfeedfacecafebeefULL;
  r.size = 1u << 20;
  Result<BlockResponseMsg> got = DecodeBlockResponse(AsBytes(EncodeBlockResponse(r)));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->request_id, 7u);
  EXPECT_EQ(got->code, StatusCode::kNotFound);
  EXPECT_EQ(got->message, "no such blob");
  EXPECT_EQ(got->checksum, 0xfeedfacecafebeefULL);
  EXPECT_EQ(got->size, 1u << 20);
}

TEST_F(ExchangeCodecTest, TrailingElementsFromNewerPeersAreIgnored) {
  msgpack::sbuffer b;
  msgpack::packer<msgpack::sbuffer> p(b);
  p.pack_array(3);
  p.pack_uint64(9);
  p.pack(std::string("x"));
  p.pack_uint64(123);  // a field a later version might add
  Result<BlockRequestMsg> got = DecodeBlockRequest(AsBytes(Pack(b)));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->name, "x");
}

TEST_F(ExchangeCodecTest, MalformedInputIsCorruptionNamingTheField) {
  EXPECT_TRUE(DecodeBlockRequest(ByteView()).status().IsCorruption());
  EXPECT_TRUE(DecodeBlockRequest(AsBytes("\xc1")).status().IsCorruption());
  const std::string full = EncodeBlockRequest({1, "abc"});
  EXPECT_TRUE(DecodeBlockRequest(AsBytes(full.substr(0, full.size() - 1))).status().IsCorruption());
  EXPECT_TRUE(DecodeBlockRequest(AsBytes(full + "x")).status().IsCorruption());

  msgpack::sbuffer b;
  msgpack::packer<msgpack::sbuffer> p(b);
  p.pack_array(2);
  p.pack(std::string("not a number"));
  p.pack(std::string("x"));
  Status s = DecodeBlockRequest(AsBytes(Pack(b))).status();
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_NE(s.message().find("request_id"), std::string::npos) << s.message();

  EXPECT_TRUE(DecodeBlockRequest(AsBytes(EncodeBlockRequest({1, ""}))).status().IsCorruption());

  BlockResponseMsg r;
  r.code = static_cast<StatusCode>(200);
  Status bad_code = DecodeBlockResponse(AsBytes(EncodeBlockResponse(r))).status();
  EXPECT_TRUE(bad_code.IsCorruption());
  EXPECT_NE(bad_code.message().find("code"), std::string::npos) << bad_code.message();
  // A request is not a response.
  EXPECT_TRUE(DecodeBlockResponse(AsBytes(full)).status().IsCorruption());
}

TEST_F(ExchangeCodecTest, OversizedMessageIsRefused) {
  const std::string big = EncodeBlockRequest({1, std::string(kMaxExchangeMessageBytes, 'n')});
  EXPECT_TRUE(DecodeBlockRequest(AsBytes(big)).status().IsCorruption());
}

}  // namespace
}  // namespace shardmesh::mesh
