// Zero-copy views of decoded samples.
//
// A DecodedBlock owns one decompressed block and a flat table with one slot per (sample,
// field), built in a single pass at decode time. SampleView, FieldView and TensorView are
// small values pointing into that block: nothing is copied or allocated when they are read,
// and they stay valid exactly as long as the DecodedBlock lives (hold its shared_ptr).
//
// Thread-safety: a DecodedBlock is immutable; any number of threads may read it and its views.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include "shardmesh/common/bytes.h"
#include "shardmesh/loader/schema.h"

namespace shardmesh::loader {

class DecodedBlock;

// A tensor value: element type, shape and raw little-endian bytes inside the block buffer.
// `data` is not necessarily aligned to the element size: read elements with At<T>() or
// memcpy, not by casting the pointer.
struct TensorView {
  DType dtype = DType::kFloat32;
  std::span<const std::int64_t> shape;
  ByteView data;

  // Number of elements (product of the shape; 1 for a scalar tensor).
  std::size_t num_elements() const { return data.size() / DTypeSize(dtype); }
  // Element `i` as T (T must have the element's size); an unaligned-safe load.
  template <typename T>
  T At(std::size_t i) const {
    assert(sizeof(T) == DTypeSize(dtype) && (i + 1) * sizeof(T) <= data.size());
    T v;
    std::memcpy(&v, data.data() + i * sizeof(T), sizeof(T));
    return v;
  }
};

namespace internal {
// One decoded value. int64: `word` is the value; float64: `word` holds the IEEE bits;
// string/bytes/tensor: `word` is the byte offset of the payload in the block buffer and
// `length` its size; tensors with a variable shape: `shape` indexes the block's shape pool
// (the dims are stored there, their count is the schema's rank).
struct FieldSlot {
  std::uint64_t word = 0;
  std::uint32_t length = 0;
  std::uint32_t shape = 0;
};
// Everything a decoder hands to DecodedBlock. Not part of the stable API.
struct DecodedBlockParts {
  Schema schema;
  SharedBytes raw;  // the decompressed block; views point into it
  std::uint64_t first_sample = 0;
  std::size_t num_samples = 0;
  std::vector<FieldSlot> slots;          // num_samples * num_fields, sample-major
  std::vector<std::int64_t> shape_pool;  // dims of variable-shape tensors
};
// Prints what went wrong and aborts: an accessor called on an invalid FieldView.
[[noreturn]] void DieOnInvalidFieldView(const char* accessor);
}  // namespace internal

// One field of one sample. Calling an As* accessor that does not match type() is a
// programming error (asserted in debug builds; the value is unspecified otherwise). Calling
// type() or an As* accessor on an invalid view (an unknown field name) aborts with a message
// saying so: check valid() when the name may be wrong.
class FieldView {
 public:
  FieldView() = default;
  // False for the view returned for an unknown field name.
  bool valid() const { return block_ != nullptr; }
  FieldType type() const;
  std::int64_t AsInt64() const;
  double AsFloat64() const;
  std::string_view AsString() const;
  ByteView AsBytes() const;
  TensorView AsTensor() const;

 private:
  friend class SampleView;
  FieldView(const DecodedBlock* block, const internal::FieldSlot* slot, std::size_t field)
      : block_(block), slot_(slot), field_(field) {}
  const DecodedBlock* block_ = nullptr;
  const internal::FieldSlot* slot_ = nullptr;
  std::size_t field_ = 0;
};

// One sample of a decoded block.
class SampleView {
 public:
  // The sample's global index in the dataset (0..N-1).
  std::uint64_t global_index() const;
  std::size_t num_fields() const;
  // Field `i` in schema order (i < num_fields()).
  FieldView field(std::size_t i) const;
  // Field called `name`; an invalid FieldView (valid() == false) when there is none. A linear
  // search over the schema: in per-sample loops look the index up once (Schema::FieldIndex).
  FieldView field(std::string_view name) const;

 private:
  friend class DecodedBlock;
  SampleView(const DecodedBlock* block, std::size_t index) : block_(block), index_(index) {}
  const DecodedBlock* block_;
  std::size_t index_;
};

// A decompressed, parsed block: owns the buffer that every view points into.
class DecodedBlock {
 public:
  // Used by the decoders; callers get blocks from Dataset::ReadBlock / DecodeBlock.
  explicit DecodedBlock(internal::DecodedBlockParts parts);

  std::size_t num_samples() const { return num_samples_; }
  // Sample `i` of this block (i < num_samples()).
  SampleView sample(std::size_t i) const {
    assert(i < num_samples_);
    return SampleView(this, i);
  }
  // Global index of sample(0).
  std::uint64_t first_sample() const { return first_sample_; }
  // Size of the decompressed block in bytes.
  std::size_t raw_bytes() const { return raw_.size(); }
  const Schema& schema() const { return schema_; }
  // The decompressed buffer (all views point inside it).
  ByteView raw() const { return raw_.view(); }

 private:
  friend class FieldView;
  friend class SampleView;
  Schema schema_;
  const FieldSpec* specs_;  // schema_.fields().data(), cached for the inline accessors
  std::size_t num_fields_;
  SharedBytes raw_;
  std::uint64_t first_sample_;
  std::size_t num_samples_;
  std::vector<internal::FieldSlot> slots_;
  std::vector<std::int64_t> shape_pool_;
};

// ---- inline accessors: the hot path of every consumer ----

inline std::uint64_t SampleView::global_index() const { return block_->first_sample_ + index_; }
inline std::size_t SampleView::num_fields() const { return block_->num_fields_; }
inline FieldView SampleView::field(std::size_t i) const {
  assert(i < block_->num_fields_);
  return FieldView(block_, &block_->slots_[index_ * block_->num_fields_ + i], i);
}

inline FieldType FieldView::type() const {
  if (block_ == nullptr) [[unlikely]]
    internal::DieOnInvalidFieldView("type");
  return block_->specs_[field_].type;
}
inline std::int64_t FieldView::AsInt64() const {
  if (block_ == nullptr) [[unlikely]]
    internal::DieOnInvalidFieldView("AsInt64");
  assert(type() == FieldType::kInt64);
  return static_cast<std::int64_t>(slot_->word);
}
inline double FieldView::AsFloat64() const {
  if (block_ == nullptr) [[unlikely]]
    internal::DieOnInvalidFieldView("AsFloat64");
  assert(type() == FieldType::kFloat64);
  double d;
  std::memcpy(&d, &slot_->word, sizeof d);
  return d;
}
inline std::string_view FieldView::AsString() const {
  if (block_ == nullptr) [[unlikely]]
    internal::DieOnInvalidFieldView("AsString");
  assert(type() == FieldType::kString);
  return {reinterpret_cast<const char*>(block_->raw_.data()) + slot_->word, slot_->length};
}
inline ByteView FieldView::AsBytes() const {
  if (block_ == nullptr) [[unlikely]]
    internal::DieOnInvalidFieldView("AsBytes");
  assert(type() == FieldType::kBytes || type() == FieldType::kString);
  return {block_->raw_.data() + slot_->word, slot_->length};
}
inline TensorView FieldView::AsTensor() const {
  if (block_ == nullptr) [[unlikely]]
    internal::DieOnInvalidFieldView("AsTensor");
  assert(type() == FieldType::kTensor);
  const FieldSpec& spec = block_->specs_[field_];
  TensorView t;
  t.dtype = spec.dtype;
  t.data = ByteView(block_->raw_.data() + slot_->word, slot_->length);
  if (slot_->shape == std::numeric_limits<std::uint32_t>::max()) {
    t.shape = spec.shape;
  } else {
    t.shape =
        std::span<const std::int64_t>(block_->shape_pool_.data() + slot_->shape, spec.shape.size());
  }
  return t;
}

}  // namespace shardmesh::loader
