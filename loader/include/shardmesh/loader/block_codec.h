// Block encoding and decoding: samples <-> msgpack <-> LZ4 (layout in shard_reader.h).
//
// BlockEncoder builds one block sample by sample, checking every value against the schema.
// DecompressBlock and ParseBlock are the two halves of decoding; Dataset::ReadBlock and
// Dataset::DecodeBlock chain them after the checksum check.
//
// Thread-safety: BlockEncoder is not thread-safe (one per writer thread). The free functions
// are pure and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "shardmesh/common/bytes.h"
#include "shardmesh/common/status.h"
#include "shardmesh/loader/sample.h"
#include "shardmesh/loader/schema.h"

namespace shardmesh::loader {

struct EncodedBlock {
  std::vector<std::uint8_t> compressed;  // LZ4 block
  std::uint32_t raw_size = 0;            // msgpack bytes before compression
  std::uint32_t num_samples = 0;
  std::uint64_t checksum = 0;        // XXH3-64 of `compressed`
  std::vector<std::int64_t> labels;  // one per sample when the schema has a label field
};

class BlockEncoder {
 public:
  // `lz4_acceleration` is LZ4's knob: 1 = LZ4_compress_default (best ratio), higher values
  // compress faster and worse.
  explicit BlockEncoder(Schema schema, int lz4_acceleration = 1);

  // A sample is BeginSample(), one Add* per field in schema order, then EndSample(). A
  // BeginSample() inside an open sample drops that sample's values; a value outside a sample
  // is dropped and reported by the next EndSample() (the sample it ends is refused).
  void BeginSample();
  void AddInt64(std::int64_t value);
  void AddFloat64(double value);
  void AddString(std::string_view value);
  void AddBytes(ByteView value);
  // Fixed-shape tensor: `data` must hold exactly the shape's bytes (little-endian elements).
  void AddTensor(ByteView data);
  // Tensor with explicit dims (required for variable-shape fields; allowed for fixed ones if
  // the dims match). `data` must hold product(dims) elements.
  void AddTensor(std::span<const std::int64_t> dims, ByteView data);
  // Commits the sample. InvalidArgument naming the field when a value had the wrong type or
  // size or the field count is wrong; the sample is then dropped and the block is unchanged.
  // The sample is numbered among all the samples committed to this encoder (across blocks):
  // for DatasetWriter, its index in the dataset. FailedPrecondition without an open sample.
  Status EndSample();
  // Whether BeginSample() was called and its EndSample() not yet.
  bool in_sample() const { return in_sample_; }

  std::uint32_t num_samples() const { return num_samples_; }
  // Uncompressed bytes so far (what the target block size is compared with).
  std::size_t raw_size() const { return buffer_.size(); }
  // The msgpack bytes of the committed samples (valid until the next call).
  ByteView raw() const;
  // Compresses the block and starts a new one. InvalidArgument when the block is empty or
  // over kMaxBlockRawBytes; FailedPrecondition inside an open sample.
  Result<EncodedBlock> Finish();

 private:
  void Fail(std::string message);
  bool Expect(FieldType type);

  Schema schema_;
  int acceleration_;
  std::vector<std::uint8_t> buffer_;  // 5 reserved bytes (array32 header) + samples
  std::vector<std::int64_t> labels_;
  std::uint32_t num_samples_ = 0;
  std::uint64_t samples_before_ = 0;  // committed in earlier blocks (for error messages)
  std::size_t sample_start_ = 5;      // where the open sample begins (after the block header)
  std::size_t next_field_ = 0;
  bool in_sample_ = false;
  bool stray_value_ = false;  // an Add* outside a sample, not yet reported
  std::int64_t sample_label_ = 0;
  std::optional<std::string> error_;
};

// The msgpack parsers DecodeBlock can use. kDirect (schema-directed, hand-written, no
// allocation per value) is the default because it measured fastest (benchmarks/format_bench);
// the msgpack-cxx ones are kept for comparison and as a cross-check in tests.
enum class BlockParser { kDirect, kMsgpackVisitor, kMsgpackUnpack };

// Decompresses an LZ4 block that must expand to exactly `raw_size` bytes. Corruption prefixed
// with `where` otherwise.
Result<SharedBytes> DecompressBlock(ByteView compressed, std::uint32_t raw_size,
                                    std::string_view where);

// Parses decompressed msgpack `raw` against `schema` into a DecodedBlock whose samples are
// numbered from `first_sample`. When `expected_samples` is set the count must match. Corruption
// prefixed with `where` (naming the sample and field) for anything that does not match.
Result<std::shared_ptr<const DecodedBlock>> ParseBlock(
    const Schema& schema, SharedBytes raw, std::uint64_t first_sample,
    std::optional<std::uint32_t> expected_samples, std::string_view where,
    BlockParser parser = BlockParser::kDirect);

}  // namespace shardmesh::loader
