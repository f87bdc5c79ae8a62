#include <lz4.h>

#include <algorithm>
#include <limits>

#include "msgpack_lite.h"
#include "shardmesh/common/hash.h"
#include "shardmesh/loader/block_codec.h"
#include "shardmesh/loader/shard_reader.h"

namespace shardmesh::loader {
namespace {
// The block's top-level array header is always array32 (0xdd + u32), written at Finish: the
// sample count is unknown until then and a fixed width avoids moving the samples.
constexpr std::size_t kBlockHeaderBytes = 5;
}  // namespace

BlockEncoder::BlockEncoder(Schema schema, int lz4_acceleration)
    : schema_(std::move(schema)), acceleration_(lz4_acceleration < 1 ? 1 : lz4_acceleration) {
  buffer_.resize(kBlockHeaderBytes);
}

ByteView BlockEncoder::raw() const { return ByteView(buffer_); }

void BlockEncoder::BeginSample() {
  if (in_sample_) buffer_.resize(sample_start_);  // an abandoned sample is dropped
  in_sample_ = true;
  sample_start_ = buffer_.size();
  next_field_ = 0;
  error_.reset();
  mp::WriteArrayHeader(buffer_, static_cast<std::uint32_t>(schema_.num_fields()));
}

void BlockEncoder::Fail(std::string message) {
  if (!error_) error_ = std::move(message);
}

bool BlockEncoder::Expect(FieldType type) {
  if (!in_sample_) {
    stray_value_ = true;  // reported by the next EndSample, whatever comes in between
    return false;
  }
  if (error_) return false;
  const auto& fields = schema_.fields();
  if (next_field_ >= fields.size()) {
    Fail("sample " + std::to_string(samples_before_ + num_samples_) + ": more values than the schema's " +
         std::to_string(fields.size()) + " fields");
    return false;
  }
  const FieldSpec& f = fields[next_field_];
  if (f.type != type) {
    Fail("sample " + std::to_string(samples_before_ + num_samples_) + " field '" + f.name + "': expected " +
         std::string(FieldTypeName(f.type)) + ", got " + std::string(FieldTypeName(type)));
    return false;
  }
  return true;
}

void BlockEncoder::AddInt64(std::int64_t value) {
  if (!Expect(FieldType::kInt64)) return;
  if (schema_.label_index() == next_field_) sample_label_ = value;
  mp::WriteInt(buffer_, value);
  ++next_field_;
}

void BlockEncoder::AddFloat64(double value) {
  if (!Expect(FieldType::kFloat64)) return;
  mp::WriteFloat64(buffer_, value);
  ++next_field_;
}

void BlockEncoder::AddString(std::string_view value) {
  if (!Expect(FieldType::kString)) return;
  mp::WriteStr(buffer_, value);
  ++next_field_;
}

void BlockEncoder::AddBytes(ByteView value) {
  if (!Expect(FieldType::kBytes)) return;
  mp::WriteBin(buffer_, value.data(), value.size());
  ++next_field_;
}

void BlockEncoder::AddTensor(ByteView data) {
  if (!Expect(FieldType::kTensor)) return;
  const FieldSpec& f = schema_.fields()[next_field_];
  if (!schema_.IsFixedTensor(next_field_)) {
    Fail("sample " + std::to_string(samples_before_ + num_samples_) + " field '" + f.name +
         "': variable-shape tensor given without dims");
    return;
  }
  AddTensor(f.shape, data);  // the fixed shape itself: checks the size and writes the bin
}

void BlockEncoder::AddTensor(std::span<const std::int64_t> dims, ByteView data) {
  if (!Expect(FieldType::kTensor)) return;
  if (schema_.IsFixedTensor(next_field_)) {
    const FieldSpec& f = schema_.fields()[next_field_];
    if (!std::equal(dims.begin(), dims.end(), f.shape.begin(), f.shape.end())) {
      Fail("sample " + std::to_string(samples_before_ + num_samples_) + " field '" + f.name +
           "': dims differ from the fixed shape");
      return;
    }
    if (data.size() != schema_.FixedTensorBytes(next_field_)) {
      Fail("sample " + std::to_string(samples_before_ + num_samples_) + " field '" + f.name + "': tensor of " +
           std::to_string(data.size()) + " bytes, shape needs " +
           std::to_string(schema_.FixedTensorBytes(next_field_)));
      return;
    }
    mp::WriteBin(buffer_, data.data(), data.size());
    ++next_field_;
    return;
  }
  const FieldSpec& f = schema_.fields()[next_field_];
  const std::string where = "sample " + std::to_string(samples_before_ + num_samples_) + " field '" + f.name + "': ";
  if (dims.size() != f.shape.size()) {
    Fail(where + "rank " + std::to_string(dims.size()) + ", schema rank " +
         std::to_string(f.shape.size()));
    return;
  }
  std::uint64_t elements = 1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0 || (f.shape[i] != -1 && dims[i] != f.shape[i])) {
      Fail(where + "dimension " + std::to_string(i) + " is " + std::to_string(dims[i]));
      return;
    }
    elements *= static_cast<std::uint64_t>(dims[i]);
    if (elements > kMaxBlockRawBytes) {
      Fail(where + "tensor too large");
      return;
    }
  }
  if (elements * DTypeSize(f.dtype) != data.size()) {
    Fail(where + "tensor of " + std::to_string(data.size()) + " bytes, dims need " +
         std::to_string(elements * DTypeSize(f.dtype)));
    return;
  }
  mp::WriteArrayHeader(buffer_, 2);
  mp::WriteArrayHeader(buffer_, static_cast<std::uint32_t>(dims.size()));
  for (std::int64_t d : dims) mp::WriteUint(buffer_, static_cast<std::uint64_t>(d));
  mp::WriteBin(buffer_, data.data(), data.size());
  ++next_field_;
}

Status BlockEncoder::EndSample() {
  if (!in_sample_) {
    stray_value_ = false;
    return Status::FailedPrecondition("EndSample() without BeginSample()");
  }
  in_sample_ = false;
  if (stray_value_) {
    stray_value_ = false;
    Fail("a value was added outside a sample (before BeginSample())");
  }
  if (!error_ && next_field_ != schema_.num_fields()) {
    Fail("sample " + std::to_string(samples_before_ + num_samples_) + ": " + std::to_string(next_field_) +
         " values, schema has " + std::to_string(schema_.num_fields()) + " fields (missing '" +
         schema_.fields()[next_field_].name + "')");
  }
  if (error_) {
    buffer_.resize(sample_start_);
    std::string message = std::move(*error_);
    error_.reset();
    return Status::InvalidArgument(std::move(message));
  }
  if (schema_.label_index()) labels_.push_back(sample_label_);
  ++num_samples_;
  return Status::OK();
}

Result<EncodedBlock> BlockEncoder::Finish() {
  if (in_sample_) {
    return Status::FailedPrecondition(
        "block encoder: Finish() inside a sample (EndSample() first)");
  }
  if (num_samples_ == 0) return Status::InvalidArgument("block encoder: empty block");
  if (buffer_.size() > kMaxBlockRawBytes) {
    return Status::InvalidArgument("block encoder: block of " + std::to_string(buffer_.size()) +
                                   " bytes exceeds the 1 GiB limit");
  }
  buffer_[0] = 0xdd;
  for (int i = 0; i < 4; ++i) {
    buffer_[1 + static_cast<std::size_t>(i)] =
        static_cast<std::uint8_t>(num_samples_ >> (8 * (3 - i)));
  }
  EncodedBlock block;
  const int src_size = static_cast<int>(buffer_.size());
  block.compressed.resize(static_cast<std::size_t>(LZ4_compressBound(src_size)));
  const int n = LZ4_compress_fast(reinterpret_cast<const char*>(buffer_.data()),
                                  reinterpret_cast<char*>(block.compressed.data()), src_size,
                                  static_cast<int>(block.compressed.size()), acceleration_);
  if (n <= 0) return Status::Internal("block encoder: LZ4 compression failed");
  block.compressed.resize(static_cast<std::size_t>(n));
  block.raw_size = static_cast<std::uint32_t>(buffer_.size());
  block.num_samples = num_samples_;
  block.checksum = Hash64(block.compressed.data(), block.compressed.size());
  block.labels = std::move(labels_);
  labels_.clear();
  samples_before_ += num_samples_;
  num_samples_ = 0;
  buffer_.resize(kBlockHeaderBytes);
  return block;
}

}  // namespace shardmesh::loader
