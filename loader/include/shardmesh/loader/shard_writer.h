// ShardWriter: writes one shard file (layout in shard_reader.h) from encoded blocks.
//
// The file is written under a temporary name and renamed into place by Finish() after an
// fsync, so a crash never leaves a half-written shard under the final name.
// Thread-safety: not thread-safe; one writer per shard.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "shardmesh/common/hash.h"
#include "shardmesh/common/status.h"
#include "shardmesh/loader/block_codec.h"
#include "shardmesh/loader/shard_reader.h"

namespace shardmesh::loader {

struct ShardSummary {
  std::uint64_t num_samples = 0;
  std::uint64_t num_blocks = 0;
  std::uint64_t bytes = 0;      // file size
  std::uint64_t raw_bytes = 0;  // sum of the blocks' decompressed sizes
  std::uint64_t footer_checksum = 0;
  std::uint64_t file_checksum = 0;
};

class ShardWriter {
 public:
  // Creates `path`.tmp and writes the header. IOError naming the path on failure.
  // `with_labels`: whether blocks carry labels (the schema has a label field).
  static Result<std::unique_ptr<ShardWriter>> Create(const std::string& path,
                                                     std::uint64_t schema_digest, bool with_labels);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Appends one block. IOError on a write failure.
  Status AddBlock(const EncodedBlock& block);
  std::uint64_t num_samples() const { return footer_.num_samples; }
  std::uint64_t bytes_written() const { return offset_; }
  // Writes footer and trailer, fsyncs, renames onto the final path. Returns the summary the
  // manifest records.
  Result<ShardSummary> Finish();

 private:
  ShardWriter() = default;
  Status Write(const void* data, std::size_t size);

  std::string path_;
  std::string tmp_path_;
  int fd_ = -1;
  bool with_labels_ = false;
  std::uint64_t offset_ = 0;
  std::uint64_t raw_bytes_ = 0;
  ShardFooter footer_;
  Hasher64 file_hash_;
};

}  // namespace shardmesh::loader
