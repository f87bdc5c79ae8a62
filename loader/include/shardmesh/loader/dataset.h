// Dataset: read access to a dataset directory (manifest.json + shard-NNNNN.smd files).
//
// Open() reads the manifest and every shard's header, trailer and footer, and cross-checks
// them (sample counts, schema digests, footer checksums, block ranges), so that afterwards any
// block is one pread away. Blocks are numbered globally: shard 0's blocks, then shard 1's...,
// and their samples are numbered contiguously 0..N-1.
//
// Thread-safety: a Dataset is immutable after Open; every method may be called concurrently
// from any number of threads (block reads use pread, which has no shared file offset).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shardmesh/common/bytes.h"
#include "shardmesh/common/status.h"
#include "shardmesh/loader/manifest.h"
#include "shardmesh/loader/sample.h"
#include "shardmesh/loader/schema.h"

namespace shardmesh::loader {

class ShardReader;

// Where one block lives and what it holds.
struct BlockInfo {
  std::uint32_t shard = 0;           // index into the manifest's shard list
  std::uint32_t index_in_shard = 0;  // position in that shard's block index
  std::uint64_t first_sample = 0;    // global index of the block's first sample
  std::uint32_t num_samples = 0;
  std::uint64_t offset = 0;           // byte offset of the compressed block in the shard file
  std::uint32_t compressed_size = 0;  // bytes on disk
  std::uint32_t raw_size = 0;         // bytes after decompression
  std::uint64_t checksum = 0;         // XXH3-64 of the compressed bytes
};

struct OpenOptions {
  // Read every shard file completely at open and compare its XXH3 with the manifest. Catches
  // corruption anywhere up front at the cost of reading the whole dataset once; without it
  // each block is still verified (its own checksum) whenever it is read.
  bool verify_file_checksums = false;
};

class Dataset {
 public:
  // Opens the dataset in `dir`. NotFound when the manifest or a shard file is missing;
  // Corruption (naming the file, and the block where there is one) when the manifest, a
  // header, trailer or footer is damaged or they disagree, or a format name or version is
  // unknown; InvalidArgument for an empty `dir`.
  static Result<std::shared_ptr<const Dataset>> Open(const std::string& dir,
                                                     const OpenOptions& options = {});
  ~Dataset();
  Dataset(const Dataset&) = delete;
  Dataset& operator=(const Dataset&) = delete;

  const Schema& schema() const { return manifest_.schema; }
  const std::string& dir() const { return dir_; }
  std::uint64_t num_samples() const { return manifest_.num_samples; }
  const Manifest& manifest() const { return manifest_; }
  std::size_t num_shards() const { return manifest_.shards.size(); }
  // Full path of shard `shard`'s file.
  std::string ShardPath(std::uint32_t shard) const;

  // All blocks: shard 0's blocks, then shard 1's...; first_sample is contiguous from 0.
  std::span<const BlockInfo> blocks() const { return blocks_; }
  // Label of every sample by global index; empty when the schema has no label field.
  std::span<const std::int64_t> labels() const { return labels_; }
  // The block holding sample `global_index` (< num_samples()); binary search.
  std::uint32_t BlockOfSample(std::uint64_t global_index) const;

  // The compressed bytes of block `block`, exactly as stored (what peers exchange): one pread
  // and a checksum check. InvalidArgument for an out-of-range block, Corruption naming the
  // file and block on a checksum mismatch or short read.
  Result<SharedBytes> ReadCompressedBlock(std::uint32_t block) const;
  // Reads, verifies, decompresses and parses block `block`. Errors as ReadCompressedBlock, plus
  // Corruption naming the file and block when the contents do not decode against the schema.
  Result<std::shared_ptr<const DecodedBlock>> ReadBlock(std::uint32_t block) const;
  // Decompresses and parses `compressed` (e.g. received from a peer) as block `info`. Checks
  // the checksum, sizes and sample count against `info`. Errors are Corruption and start with
  // `where_for_errors` (e.g. "peer 3: shard-00001.smd block 7").
  static Result<std::shared_ptr<const DecodedBlock>> DecodeBlock(const Schema& schema,
                                                                 const BlockInfo& info,
                                                                 SharedBytes compressed,
                                                                 std::string_view where_for_errors);
  // Reads and decodes every block (checksum, LZ4, msgpack against the schema and the sample
  // count) and checks every whole file (checksum against the manifest) and the label
  // histogram. OK, or the first failure, naming the shard file and the block.
  Status VerifyAll() const;

 private:
  Dataset() = default;
  std::string dir_;
  Manifest manifest_;
  std::vector<std::unique_ptr<ShardReader>> shards_;
  std::vector<BlockInfo> blocks_;
  std::vector<std::int64_t> labels_;
};

}  // namespace shardmesh::loader
