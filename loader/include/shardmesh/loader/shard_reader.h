// ShardReader: one shard file (shard-NNNNN.smd), validated at open, any block one pread away.
//
// ---- Shard file format, version 1 (append-only: new versions get a new number) ----
//   header   16 bytes  magic "SMSHARD1" (8 bytes), u32 LE format version (1), u32 LE reserved 0
//   blocks   back to back from offset 16; each is an LZ4 block (LZ4_compress_default) of a
//            msgpack array of samples; a sample is a msgpack array of its field values in
//            schema order: int64 -> msgpack int, float64 -> float 64, string -> str,
//            bytes -> bin, tensor of fixed shape -> bin of raw little-endian elements,
//            tensor of variable shape -> [[dims...], bin]. Never arrays of numbers.
//   footer   msgpack array [format version, schema digest (u64), num_samples,
//            [[offset, compressed_size, raw_size, num_samples, xxh3 of compressed bytes]...],
//            labels (bin of num_samples little-endian int64, empty without a label field)]
//   trailer  24 bytes  u64 LE footer length, u64 LE XXH3-64 of the footer, magic "SMSHEND1"
// Blocks must lie in [16, footer start), in order, without overlap. Every violation (magic,
// version, truncation, checksum, range) is a Corruption error naming the file (and block).
//
// Thread-safety: immutable after Open; ReadCompressedBlock may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shardmesh/common/bytes.h"
#include "shardmesh/common/file.h"
#include "shardmesh/common/status.h"

namespace shardmesh::loader {

inline constexpr std::string_view kShardMagic = "SMSHARD1";
inline constexpr std::string_view kShardTrailerMagic = "SMSHEND1";
inline constexpr std::uint32_t kShardFormatVersion = 1;
inline constexpr std::size_t kShardHeaderSize = 16;
inline constexpr std::size_t kShardTrailerSize = 24;
// Upper bounds that keep a damaged file from asking for absurd allocations.
inline constexpr std::uint64_t kMaxFooterBytes = 1ull << 30;
inline constexpr std::uint32_t kMaxBlockRawBytes = 1u << 30;

struct ShardBlock {
  std::uint64_t offset = 0;
  std::uint32_t compressed_size = 0;
  std::uint32_t raw_size = 0;
  std::uint32_t num_samples = 0;
  std::uint64_t checksum = 0;  // XXH3-64 of the compressed bytes
};

struct ShardFooter {
  std::uint64_t schema_digest = 0;
  std::uint64_t num_samples = 0;
  std::vector<ShardBlock> blocks;
  std::vector<std::int64_t> labels;  // one per sample, or empty
};

// Footer <-> msgpack bytes. ParseShardFooter returns Corruption prefixed with `where` for
// anything but a well-formed footer whose block sample counts add up to num_samples and whose
// labels (if any) number num_samples.
std::string EncodeShardFooter(const ShardFooter& footer);
Result<ShardFooter> ParseShardFooter(ByteView footer, std::string_view where);

// Validates a whole shard file held in memory (header, trailer, footer checksum, footer, block
// ranges) and returns its footer. Same checks and errors as ShardReader::Open.
Result<ShardFooter> ParseShardImage(ByteView file, std::string_view where);

class ShardReader {
 public:
  // Opens `path` and validates header, trailer, footer and block ranges. NotFound when the
  // file is missing; Corruption naming the file otherwise.
  static Result<std::unique_ptr<ShardReader>> Open(const std::string& path);

  const std::string& path() const { return file_.path(); }
  const ShardFooter& footer() const { return footer_; }
  std::uint64_t file_size() const { return file_.size(); }
  std::uint64_t footer_checksum() const { return footer_checksum_; }

  // Block `i`'s compressed bytes after one pread and a checksum check. InvalidArgument when
  // i is out of range; Corruption naming the file and block on mismatch or short read.
  Result<SharedBytes> ReadCompressedBlock(std::uint32_t i) const;
  // Like ReadCompressedBlock, but into `scratch` (resized as needed; reused across calls to
  // spare an allocation per block). Returns a view of scratch.
  Result<ByteView> ReadCompressedBlockInto(std::uint32_t i,
                                           std::vector<std::uint8_t>& scratch) const;
  // XXH3-64 of the whole file (reads it sequentially).
  Result<std::uint64_t> ComputeFileChecksum() const;

 private:
  ShardReader() = default;
  RandomAccessFile file_;
  ShardFooter footer_;
  std::uint64_t footer_checksum_ = 0;
};

// "<path> block <i>", the prefix of every block error.
std::string BlockWhere(std::string_view path, std::uint32_t block);

}  // namespace shardmesh::loader
