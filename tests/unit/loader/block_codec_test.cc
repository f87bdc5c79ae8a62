// Block encoding/decoding: every field type round-trips, views are zero-copy, blocks are
// standard msgpack, and damaged or mismatching blocks are rejected with the sample and field.
#include "shardmesh/loader/block_codec.h"

#include <gtest/gtest.h>

#include <cstring>
#include <msgpack.hpp>

#include "format_test_util.h"

namespace shardmesh::loader {
namespace {

using testing::AllTypesSchema;

class BlockCodecTest : public ::testing::Test {
 protected:
  // Encodes samples 0..n-1 of the AllTypes pattern into one block.
  EncodedBlock Encode(std::uint64_t n) {
    BlockEncoder enc(schema_);
    for (std::uint64_t i = 0; i < n; ++i) {
      enc.BeginSample();
      AddValues(enc, i);
      EXPECT_TRUE(enc.EndSample().ok());
    }
    auto block = enc.Finish();
    EXPECT_TRUE(block.ok()) << block.status().ToString();
    return std::move(block).value();
  }

  // The AllTypes pattern's values of sample i, in schema order.
  static void AddValues(BlockEncoder& enc, std::uint64_t i) {
    const std::string name = testing::NameOf(i);
    const auto blob = testing::BlobOf(i);
    const auto vec = testing::VecOf(i);
    const std::int64_t rows = testing::RowsOf(i);
    std::vector<std::uint8_t> img(static_cast<std::size_t>(rows) * 3, static_cast<std::uint8_t>(i));
    const std::int64_t dims[2] = {rows, 3};
    enc.AddInt64(testing::IdOf(i));
    enc.AddFloat64(testing::ScoreOf(i));
    enc.AddString(name);
    enc.AddBytes(blob);
    enc.AddTensor(ByteView(reinterpret_cast<const std::uint8_t*>(vec.data()), 16));
    enc.AddTensor(dims, img);
    enc.AddInt64(testing::LabelOf(i));
  }

  std::shared_ptr<const DecodedBlock> Decode(const EncodedBlock& b, BlockParser parser) {
    auto raw = DecompressBlock(b.compressed, b.raw_size, "test block");
    EXPECT_TRUE(raw.ok()) << raw.status().ToString();
    auto block = ParseBlock(schema_, *raw, 1000, b.num_samples, "test block", parser);
    EXPECT_TRUE(block.ok()) << block.status().ToString();
    return block.ok() ? *block : nullptr;
  }

  Schema schema_ = AllTypesSchema();
};

TEST_F(BlockCodecTest, EveryFieldTypeRoundTripsWithEveryParser) {
  const EncodedBlock encoded = Encode(50);
  EXPECT_EQ(encoded.num_samples, 50u);
  for (BlockParser parser :
       {BlockParser::kDirect, BlockParser::kMsgpackUnpack, BlockParser::kMsgpackVisitor}) {
    SCOPED_TRACE(static_cast<int>(parser));
    auto block = Decode(encoded, parser);
    ASSERT_NE(block, nullptr);
    ASSERT_EQ(block->num_samples(), 50u);
    EXPECT_EQ(block->first_sample(), 1000u);
    EXPECT_EQ(block->raw_bytes(), encoded.raw_size);
    for (std::uint64_t i = 0; i < 50; ++i) {
      const SampleView s = block->sample(i);
      EXPECT_EQ(s.global_index(), 1000 + i);
      ASSERT_EQ(s.num_fields(), 7u);
      EXPECT_EQ(s.field(0).AsInt64(), testing::IdOf(i));
      EXPECT_EQ(s.field(1).AsFloat64(), testing::ScoreOf(i));
      EXPECT_EQ(s.field(2).AsString(), testing::NameOf(i));
      const ByteView blob = s.field(3).AsBytes();
      const auto want_blob = testing::BlobOf(i);
      EXPECT_TRUE(std::equal(blob.begin(), blob.end(), want_blob.begin(), want_blob.end()));
      const TensorView vec = s.field("vec").AsTensor();
      EXPECT_EQ(vec.dtype, DType::kFloat32);
      ASSERT_EQ(vec.shape.size(), 1u);
      EXPECT_EQ(vec.shape[0], 4);
      ASSERT_EQ(vec.num_elements(), 4u);
      const auto want_vec = testing::VecOf(i);
      for (std::size_t k = 0; k < 4; ++k) EXPECT_EQ(vec.At<float>(k), want_vec[k]);
      const TensorView img = s.field("img").AsTensor();
      EXPECT_EQ(img.dtype, DType::kUint8);
      ASSERT_EQ(img.shape.size(), 2u);
      EXPECT_EQ(img.shape[0], testing::RowsOf(i));
      EXPECT_EQ(img.shape[1], 3);
      EXPECT_EQ(img.data.size(), static_cast<std::size_t>(testing::RowsOf(i) * 3));
      for (std::uint8_t byte : img.data) EXPECT_EQ(byte, static_cast<std::uint8_t>(i));
      EXPECT_EQ(s.field("label").AsInt64(), testing::LabelOf(i));
      EXPECT_FALSE(s.field("no-such-field").valid());
    }
  }
}

TEST_F(BlockCodecTest, TensorAndStringViewsPointIntoTheBlockBuffer) {
  auto block = Decode(Encode(10), BlockParser::kDirect);
  ASSERT_NE(block, nullptr);
  const std::uint8_t* begin = block->raw().data();
  const std::uint8_t* end = begin + block->raw().size();
  for (std::size_t i = 0; i < block->num_samples(); ++i) {
    const TensorView t = block->sample(i).field("vec").AsTensor();
    EXPECT_GE(t.data.data(), begin);
    EXPECT_LE(t.data.data() + t.data.size(), end);
    const auto name = block->sample(i).field("name").AsString();
    EXPECT_GE(reinterpret_cast<const std::uint8_t*>(name.data()), begin);
    EXPECT_LE(reinterpret_cast<const std::uint8_t*>(name.data() + name.size()), end);
  }
}

TEST_F(BlockCodecTest, ExtremeIntegersAndFloatsRoundTrip) {
  std::vector<FieldSpec> f = {{"i", FieldType::kInt64, DType::kFloat32, {}},
                              {"d", FieldType::kFloat64, DType::kFloat32, {}}};
  const Schema schema = Schema::Create(f, std::nullopt).value();
  const std::vector<std::int64_t> ints = {
      0,         1,         -1,        127,
      128,       -32,       -33,       255,
      256,       -129,      65535,     65536,
      -32769,    INT32_MAX, INT32_MIN, static_cast<std::int64_t>(UINT32_MAX) + 1,
      INT64_MAX, INT64_MIN};
  BlockEncoder enc(schema);
  for (std::size_t k = 0; k < ints.size(); ++k) {
    enc.BeginSample();
    enc.AddInt64(ints[k]);
    enc.AddFloat64(k % 2 ? -0.0 : 1e300 * static_cast<double>(k));
    ASSERT_TRUE(enc.EndSample().ok());
  }
  auto b = enc.Finish();
  ASSERT_TRUE(b.ok());
  auto raw = DecompressBlock(b->compressed, b->raw_size, "x");
  ASSERT_TRUE(raw.ok());
  auto block = ParseBlock(schema, *raw, 0, std::nullopt, "x");
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  for (std::size_t k = 0; k < ints.size(); ++k) {
    EXPECT_EQ((*block)->sample(k).field(0).AsInt64(), ints[k]);
    const double d = (*block)->sample(k).field(1).AsFloat64();
    EXPECT_EQ(std::signbit(d), k % 2 == 1);
  }
}

TEST_F(BlockCodecTest, BlockIsStandardMsgpackWithTensorsAsBin) {
  const EncodedBlock encoded = Encode(3);
  auto raw = DecompressBlock(encoded.compressed, encoded.raw_size, "x");
  ASSERT_TRUE(raw.ok());
  msgpack::object_handle oh =
      msgpack::unpack(reinterpret_cast<const char*>(raw->data()), raw->size());
  const msgpack::object& top = oh.get();
  ASSERT_EQ(top.type, msgpack::type::ARRAY);
  ASSERT_EQ(top.via.array.size, 3u);
  const msgpack::object& s1 = top.via.array.ptr[1];
  ASSERT_EQ(s1.type, msgpack::type::ARRAY);
  ASSERT_EQ(s1.via.array.size, 7u);
  EXPECT_EQ(s1.via.array.ptr[0].as<std::int64_t>(), testing::IdOf(1));
  EXPECT_EQ(s1.via.array.ptr[2].as<std::string>(), testing::NameOf(1));
  EXPECT_EQ(s1.via.array.ptr[4].type, msgpack::type::BIN);  // fixed tensor: raw bytes
  EXPECT_EQ(s1.via.array.ptr[4].via.bin.size, 16u);
  const msgpack::object& img = s1.via.array.ptr[5];  // variable tensor: [[dims], bin]
  ASSERT_EQ(img.type, msgpack::type::ARRAY);
  ASSERT_EQ(img.via.array.size, 2u);
  EXPECT_EQ(img.via.array.ptr[0].via.array.size, 2u);
  EXPECT_EQ(img.via.array.ptr[1].type, msgpack::type::BIN);
}

TEST_F(BlockCodecTest, EncoderRejectsWrongTypeAndKeepsTheBlockUsable) {
  BlockEncoder enc(schema_);
  enc.BeginSample();
  enc.AddString("not an int");
  Status s = enc.EndSample();
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("'id'"), std::string::npos) << s.message();
  EXPECT_EQ(enc.num_samples(), 0u);
  const std::size_t empty_size = enc.raw_size();
  enc.BeginSample();
  enc.AddInt64(1);
  s = enc.EndSample();
  EXPECT_NE(s.message().find("'score'"), std::string::npos) << s.message();
  EXPECT_EQ(enc.raw_size(), empty_size);
}

// Calls out of order are refused and leave nothing in the block: the block that results holds
// exactly the samples whose EndSample() succeeded, and parses.
TEST_F(BlockCodecTest, EncoderCallsOutOfOrderNeverReachTheBlock) {
  BlockEncoder enc(schema_);
  EXPECT_TRUE(enc.EndSample().code() == StatusCode::kFailedPrecondition);  // nothing begun
  enc.AddString("before any sample");
  EXPECT_TRUE(enc.EndSample().code() == StatusCode::kFailedPrecondition);
  EXPECT_EQ(enc.num_samples(), 0u);
  enc.AddInt64(99);  // stray, then a whole sample: the stray value is reported, not dropped
  enc.BeginSample();
  AddValues(enc, 7);
  const Status stray = enc.EndSample();
  EXPECT_TRUE(stray.IsInvalidArgument()) << stray.ToString();
  EXPECT_NE(stray.message().find("outside a sample"), std::string::npos) << stray.message();
  EXPECT_EQ(enc.num_samples(), 0u);

  enc.BeginSample();  // abandoned half-way: its values are dropped by the next BeginSample
  enc.AddInt64(123);
  enc.AddFloat64(4.5);
  enc.BeginSample();
  AddValues(enc, 0);
  ASSERT_TRUE(enc.EndSample().ok());
  EXPECT_TRUE(enc.EndSample().code() ==
              StatusCode::kFailedPrecondition);  // a second commit of the same sample
  EXPECT_EQ(enc.num_samples(), 1u);

  enc.BeginSample();
  AddValues(enc, 1);
  EXPECT_TRUE(enc.Finish().status().code() == StatusCode::kFailedPrecondition);  // inside a sample
  ASSERT_TRUE(enc.EndSample().ok());
  auto block = enc.Finish();
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  EXPECT_EQ(block->num_samples, 2u);
  auto decoded = Decode(*block, BlockParser::kDirect);
  ASSERT_NE(decoded, nullptr);
  ASSERT_EQ(decoded->num_samples(), 2u);
}

TEST_F(BlockCodecTest, EncoderRejectsTensorOfWrongSizeOrRank) {
  BlockEncoder enc(schema_);
  const std::uint8_t bytes[12] = {};
  enc.BeginSample();
  enc.AddInt64(1);
  enc.AddFloat64(1);
  enc.AddString("a");
  enc.AddBytes({});
  enc.AddTensor(ByteView(bytes, 12));  // needs 16
  Status s = enc.EndSample();
  EXPECT_NE(s.message().find("'vec'"), std::string::npos) << s.message();
  const std::int64_t bad_dims[2] = {2, 4};  // second dim is fixed at 3
  enc.BeginSample();
  enc.AddInt64(1);
  enc.AddFloat64(1);
  enc.AddString("a");
  enc.AddBytes({});
  enc.AddTensor(std::span<const std::int64_t>(), ByteView());
  s = enc.EndSample();
  EXPECT_FALSE(s.ok());
  enc.BeginSample();
  enc.AddInt64(1);
  enc.AddFloat64(1);
  enc.AddString("a");
  enc.AddBytes({});
  std::uint8_t vec[16] = {};
  enc.AddTensor(ByteView(vec, 16));
  enc.AddTensor(bad_dims, ByteView(bytes, 8));
  s = enc.EndSample();
  EXPECT_NE(s.message().find("'img'"), std::string::npos) << s.message();
  EXPECT_EQ(enc.num_samples(), 0u);
}

TEST_F(BlockCodecTest, ParserRejectsTruncatedOrMismatchedBlocksNamingWhere) {
  const EncodedBlock encoded = Encode(5);
  auto raw = DecompressBlock(encoded.compressed, encoded.raw_size, "x");
  ASSERT_TRUE(raw.ok());
  for (BlockParser parser :
       {BlockParser::kDirect, BlockParser::kMsgpackUnpack, BlockParser::kMsgpackVisitor}) {
    SCOPED_TRACE(static_cast<int>(parser));
    for (std::size_t len :
         {std::size_t{0}, std::size_t{1}, std::size_t{7}, raw->size() / 2, raw->size() - 1}) {
      auto r = ParseBlock(schema_, raw->Slice(0, len), 0, std::nullopt, "blk 9", parser);
      ASSERT_FALSE(r.ok()) << len;
      EXPECT_TRUE(r.status().IsCorruption());
      EXPECT_EQ(r.status().message().rfind("blk 9", 0), 0u) << r.status().message();
    }
    auto wrong_count = ParseBlock(schema_, *raw, 0, 6, "blk 9", parser);
    EXPECT_TRUE(wrong_count.status().IsCorruption());
    // The same bytes under a schema whose first field is a string must fail on that field.
    std::vector<FieldSpec> f = schema_.fields();
    f[0].type = FieldType::kString;
    const Schema other = Schema::Create(f, "label").value();
    auto wrong_type = ParseBlock(other, *raw, 0, std::nullopt, "blk 9", parser);
    ASSERT_FALSE(wrong_type.ok());
    EXPECT_NE(wrong_type.status().message().find("'id'"), std::string::npos)
        << wrong_type.status().message();
  }
}

TEST_F(BlockCodecTest, DecompressRejectsWrongSizeAndGarbage) {
  const EncodedBlock encoded = Encode(5);
  EXPECT_TRUE(
      DecompressBlock(encoded.compressed, encoded.raw_size + 1, "b").status().IsCorruption());
  EXPECT_TRUE(
      DecompressBlock(encoded.compressed, encoded.raw_size - 1, "b").status().IsCorruption());
  std::vector<std::uint8_t> garbage(encoded.compressed.size(), 0xff);
  EXPECT_TRUE(DecompressBlock(garbage, encoded.raw_size, "b").status().IsCorruption());
  EXPECT_TRUE(DecompressBlock(encoded.compressed, 0x7fffffff, "b").status().IsCorruption());
}

}  // namespace
}  // namespace shardmesh::loader
