// Fuzzes the shard tail: the input is parsed both as a footer and as a whole shard image
// (header, trailer, footer checksum, block ranges). Accepted footers must re-encode to bytes
// that parse to the same footer, and accepted images must keep every block inside the file.
#include <cstddef>
#include <cstdint>

#include "shardmesh/loader/shard_reader.h"

using namespace shardmesh;
using namespace shardmesh::loader;

namespace {
bool SameFooter(const ShardFooter& a, const ShardFooter& b) {
  if (a.schema_digest != b.schema_digest || a.num_samples != b.num_samples ||
      a.labels != b.labels || a.blocks.size() != b.blocks.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.blocks.size(); ++i) {
    const ShardBlock &x = a.blocks[i], &y = b.blocks[i];
    if (x.offset != y.offset || x.compressed_size != y.compressed_size ||
        x.raw_size != y.raw_size || x.num_samples != y.num_samples || x.checksum != y.checksum) {
      return false;
    }
  }
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input(data, size);
  auto footer = ParseShardFooter(input, "fuzz");
  if (footer.ok()) {
    const std::string encoded = EncodeShardFooter(*footer);
    auto again = ParseShardFooter(AsBytes(encoded), "fuzz-roundtrip");
    if (!again.ok() || !SameFooter(*footer, *again)) __builtin_trap();
  }
  auto image = ParseShardImage(input, "fuzz");
  if (image.ok()) {
    for (const ShardBlock& b : image->blocks) {
      if (b.offset < kShardHeaderSize || b.offset + b.compressed_size > size) __builtin_trap();
    }
  }
  return 0;
}
