// Fuzzes block decoding: arbitrary bytes as decompressed msgpack (all three parsers) or as an
// LZ4 block. Accepted blocks have every view read, so ASan catches any view that points
// outside the buffer. Input: [schema selector][mode][payload]; mode bit 0 set = payload is
// [u32 LE raw size][LZ4 bytes].
#include <cstddef>
#include <cstdint>

#include "fuzz_schemas.h"
#include "shardmesh/loader/block_codec.h"

namespace {

using namespace shardmesh;
using namespace shardmesh::loader;

std::uint64_t Touch(const DecodedBlock& block) {
  std::uint64_t acc = 0;
  for (std::size_t i = 0; i < block.num_samples(); ++i) {
    const SampleView s = block.sample(i);
    for (std::size_t f = 0; f < s.num_fields(); ++f) {
      const FieldView v = s.field(f);
      switch (v.type()) {
        case FieldType::kInt64:
          acc += static_cast<std::uint64_t>(v.AsInt64());
          break;
        case FieldType::kFloat64:
          acc += static_cast<std::uint64_t>(v.AsFloat64() != 0);
          break;
        case FieldType::kString:
          for (char c : v.AsString()) acc += static_cast<unsigned char>(c);
          break;
        case FieldType::kBytes:
          for (std::uint8_t b : v.AsBytes()) acc += b;
          break;
        case FieldType::kTensor: {
          const TensorView t = v.AsTensor();
          std::uint64_t elements = 1;
          for (std::int64_t d : t.shape) elements *= static_cast<std::uint64_t>(d);
          if (elements * DTypeSize(t.dtype) != t.data.size()) __builtin_trap();
          for (std::uint8_t b : t.data) acc += b;
          break;
        }
      }
    }
  }
  return acc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const Schema schema = fuzz::FuzzSchema(data[0]);
  const std::uint8_t mode = data[1];
  data += 2;
  size -= 2;
  volatile std::uint64_t sink = 0;
  if (mode & 1) {
    if (size < 4) return 0;
    const std::uint32_t raw_size =
        data[0] | (data[1] << 8) | (data[2] << 16) | (static_cast<std::uint32_t>(data[3]) << 24);
    auto raw = DecompressBlock(ByteView(data + 4, size - 4), raw_size, "fuzz");
    if (!raw.ok()) return 0;
    auto block = ParseBlock(schema, *raw, 0, std::nullopt, "fuzz");
    if (block.ok()) sink = sink + Touch(**block);
    return 0;
  }
  const SharedBytes raw = SharedBytes::Copy(ByteView(data, size));
  bool accepted[3];
  std::size_t counts[3] = {0, 0, 0};
  const BlockParser parsers[3] = {BlockParser::kDirect, BlockParser::kMsgpackVisitor,
                                  BlockParser::kMsgpackUnpack};
  for (int p = 0; p < 3; ++p) {
    auto block = ParseBlock(schema, raw, 7, std::nullopt, "fuzz", parsers[p]);
    accepted[p] = block.ok();
    if (block.ok()) {
      counts[p] = (*block)->num_samples();
      sink = sink + Touch(**block);
    }
  }
  // The SAX visitor walks exactly the grammar the direct parser does; they must agree.
  if (accepted[0] != accepted[1]) __builtin_trap();
  if (accepted[0] && counts[0] != counts[1]) __builtin_trap();
  return 0;
}
