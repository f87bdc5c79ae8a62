// Block parsers built on msgpack-cxx: an object-tree unpack with zero-copy str/bin references,
// and a SAX visitor. Both fill the same slot table as the direct parser; benchmarks compare
// them (BM_DecodeBlock/*), tests check they agree.
#include <cstring>
#include <msgpack.hpp>

#include "block_parsers.h"
#include "shardmesh/loader/shard_reader.h"

namespace shardmesh::loader::internal {
namespace {

Status Bad(std::string_view where, std::size_t sample, const FieldSpec& f, std::string_view what) {
  return Status::Corruption(std::string(where) + ": sample " + std::to_string(sample) + " field '" +
                            f.name + "': " + std::string(what));
}

}  // namespace

Status ParseWithMsgpackUnpack(DecodedBlockParts& parts,
                              std::optional<std::uint32_t> expected_samples,
                              std::string_view where) {
  const Schema& schema = parts.schema;
  const auto& fields = schema.fields();
  const std::size_t nf = fields.size();
  const char* base = reinterpret_cast<const char*>(parts.raw.data());
  const std::size_t len = parts.raw.size();
  msgpack::object_handle oh;
  try {
    // Limits scaled to the input keep a lying size header from allocating more than the
    // block could hold.
    const msgpack::unpack_limit limit(len, len, len, len, len, 16);
    std::size_t off = 0;
    oh = msgpack::unpack(
        base, len, off, [](msgpack::type::object_type, std::size_t, void*) { return true; },
        nullptr, limit);
    if (off != len) {
      return Status::Corruption(std::string(where) + ": trailing bytes after the sample array");
    }
  } catch (const std::exception& e) {
    return Status::Corruption(std::string(where) + ": msgpack: " + e.what());
  }
  const msgpack::object& top = oh.get();
  if (top.type != msgpack::type::ARRAY) {
    return Status::Corruption(std::string(where) + ": block is not a msgpack array");
  }
  const std::uint32_t n = top.via.array.size;
  if (expected_samples && n != *expected_samples) {
    return Status::Corruption(std::string(where) + ": block holds " + std::to_string(n) +
                              " samples, index says " + std::to_string(*expected_samples));
  }
  parts.slots.resize(static_cast<std::size_t>(n) * nf);
  FieldSlot* slot = parts.slots.data();
  auto offset_of = [base](const char* p) { return static_cast<std::uint64_t>(p - base); };
  for (std::uint32_t s = 0; s < n; ++s) {
    const msgpack::object& sample = top.via.array.ptr[s];
    if (sample.type != msgpack::type::ARRAY || sample.via.array.size != nf) {
      return Status::Corruption(std::string(where) + ": sample " + std::to_string(s) +
                                " is not an array of " + std::to_string(nf) + " fields");
    }
    for (std::size_t f = 0; f < nf; ++f, ++slot) {
      const FieldSpec& spec = fields[f];
      const msgpack::object& v = sample.via.array.ptr[f];
      switch (spec.type) {
        case FieldType::kInt64:
          if (v.type == msgpack::type::POSITIVE_INTEGER && v.via.u64 <= INT64_MAX) {
            slot->word = v.via.u64;
          } else if (v.type == msgpack::type::NEGATIVE_INTEGER) {
            slot->word = static_cast<std::uint64_t>(v.via.i64);
          } else {
            return Bad(where, s, spec, "expected int64");
          }
          break;
        case FieldType::kFloat64:
          if (v.type != msgpack::type::FLOAT64 && v.type != msgpack::type::FLOAT32) {
            return Bad(where, s, spec, "expected float64");
          }
          std::memcpy(&slot->word, &v.via.f64, sizeof(double));
          break;
        case FieldType::kString:
          if (v.type != msgpack::type::STR) return Bad(where, s, spec, "expected string");
          slot->word = offset_of(v.via.str.ptr);
          slot->length = v.via.str.size;
          break;
        case FieldType::kBytes:
          if (v.type != msgpack::type::BIN) return Bad(where, s, spec, "expected bytes");
          slot->word = offset_of(v.via.bin.ptr);
          slot->length = v.via.bin.size;
          break;
        case FieldType::kTensor: {
          const msgpack::object* bin = &v;
          if (schema.IsFixedTensor(f)) {
            slot->shape = kFixedShape;
            if (v.type != msgpack::type::BIN || v.via.bin.size != schema.FixedTensorBytes(f)) {
              return Bad(where, s, spec, "expected tensor bin of the shape's size");
            }
          } else {
            if (v.type != msgpack::type::ARRAY || v.via.array.size != 2 ||
                v.via.array.ptr[0].type != msgpack::type::ARRAY ||
                v.via.array.ptr[0].via.array.size != spec.shape.size() ||
                v.via.array.ptr[1].type != msgpack::type::BIN) {
              return Bad(where, s, spec, "expected [[dims...], bin] of the schema's rank");
            }
            slot->shape = static_cast<std::uint32_t>(parts.shape_pool.size());
            std::uint64_t elements = 1;
            const msgpack::object_array& dims = v.via.array.ptr[0].via.array;
            for (std::uint32_t d = 0; d < dims.size; ++d) {
              const msgpack::object& dim = dims.ptr[d];
              if (dim.type != msgpack::type::POSITIVE_INTEGER || dim.via.u64 > kMaxBlockRawBytes ||
                  (spec.shape[d] != -1 &&
                   dim.via.u64 != static_cast<std::uint64_t>(spec.shape[d]))) {
                return Bad(where, s, spec, "bad dimension " + std::to_string(d));
              }
              elements *= dim.via.u64;
              if (elements > kMaxBlockRawBytes) return Bad(where, s, spec, "tensor too large");
              parts.shape_pool.push_back(static_cast<std::int64_t>(dim.via.u64));
            }
            bin = &v.via.array.ptr[1];
            if (bin->via.bin.size != elements * DTypeSize(spec.dtype)) {
              return Bad(where, s, spec, "tensor size does not match its dims");
            }
          }
          slot->word = offset_of(bin->via.bin.ptr);
          slot->length = bin->via.bin.size;
          break;
        }
      }
    }
  }
  parts.num_samples = n;
  return Status::OK();
}

namespace {

// SAX visitor: depth 1 = inside the block array, 2 = inside a sample, 3 = inside a
// variable tensor's [dims, bin] pair, 4 = inside its dims.
class SlotVisitor : public msgpack::null_visitor {
 public:
  SlotVisitor(DecodedBlockParts& parts, std::optional<std::uint32_t> expected, std::size_t len)
      : parts_(parts),
        schema_(parts.schema),
        fields_(parts.schema.fields()),
        nf_(fields_.size()),
        base_(reinterpret_cast<const char*>(parts.raw.data())),
        expected_(expected),
        len_(len) {}

  bool visit_nil() { return Fail("unexpected nil"); }
  bool visit_boolean(bool) { return Fail("unexpected boolean"); }
  bool visit_positive_integer(std::uint64_t v) {
    if (depth_ == 4) {
      const FieldSpec& spec = fields_[field_];
      if (dim_ >= spec.shape.size() || v > kMaxBlockRawBytes ||
          (spec.shape[dim_] != -1 && v != static_cast<std::uint64_t>(spec.shape[dim_]))) {
        return Fail("bad dimension " + std::to_string(dim_));
      }
      elements_ *= v;
      if (elements_ > kMaxBlockRawBytes) return Fail("tensor too large");
      parts_.shape_pool.push_back(static_cast<std::int64_t>(v));
      ++dim_;
      return true;
    }
    if (v > static_cast<std::uint64_t>(INT64_MAX)) return Fail("integer out of int64 range");
    return Int(static_cast<std::int64_t>(v));
  }
  bool visit_negative_integer(std::int64_t v) {
    if (depth_ == 4) return Fail("negative dimension");
    return Int(v);
  }
  bool visit_float32(float v) { return Float(v); }
  bool visit_float64(double v) { return Float(v); }
  bool visit_str(const char* p, std::uint32_t size) {
    if (!Value(FieldType::kString)) return false;
    Slot().word = static_cast<std::uint64_t>(p - base_);
    Slot().length = size;
    return Next();
  }
  bool visit_bin(const char* p, std::uint32_t size) {
    if (depth_ == 3) {  // the data of a variable-shape tensor
      const FieldSpec& spec = fields_[field_];
      if (pair_item_ != 1 || dim_ != spec.shape.size()) return Fail("bin before the dims");
      if (size != elements_ * DTypeSize(spec.dtype))
        return Fail("tensor size does not match its dims");
      Slot().word = static_cast<std::uint64_t>(p - base_);
      Slot().length = size;
      ++pair_item_;
      return true;
    }
    if (depth_ != 2 || field_ >= nf_) return Fail("unexpected bin");
    const FieldSpec& spec = fields_[field_];
    if (spec.type == FieldType::kBytes) {
    } else if (spec.type == FieldType::kTensor && schema_.IsFixedTensor(field_)) {
      if (size != schema_.FixedTensorBytes(field_)) return Fail("tensor bin of the wrong size");
      Slot().shape = kFixedShape;
    } else {
      return Fail("expected " + std::string(FieldTypeName(spec.type)));
    }
    Slot().word = static_cast<std::uint64_t>(p - base_);
    Slot().length = size;
    return Next();
  }
  bool visit_ext(const char*, std::uint32_t) { return Fail("unexpected ext"); }
  bool start_map(std::uint32_t) { return Fail("unexpected map"); }

  bool start_array(std::uint32_t n) {
    switch (depth_) {
      case 0:
        if (expected_ && n != *expected_) {
          return Fail("block holds " + std::to_string(n) + " samples, index says " +
                      std::to_string(*expected_));
        }
        if (n > len_) return Fail("sample count exceeds the block size");
        num_samples_ = n;
        parts_.slots.resize(static_cast<std::size_t>(n) * nf_);
        break;
      case 1:
        if (n != nf_) return Fail("sample is not an array of " + std::to_string(nf_) + " fields");
        field_ = 0;
        break;
      case 2: {
        if (field_ >= nf_) return Fail("too many fields");
        const FieldSpec& spec = fields_[field_];
        if (spec.type != FieldType::kTensor || schema_.IsFixedTensor(field_) || n != 2) {
          return Fail("unexpected array");
        }
        pair_item_ = 0;
        Slot().shape = static_cast<std::uint32_t>(parts_.shape_pool.size());
        break;
      }
      case 3:
        if (pair_item_ != 0 || n != fields_[field_].shape.size()) {
          return Fail("dims of the wrong rank");
        }
        dim_ = 0;
        elements_ = 1;
        break;
      default:
        return Fail("nested too deep");
    }
    ++depth_;
    return true;
  }
  bool end_array() {
    --depth_;
    switch (depth_) {
      case 1:  // a sample ended
        ++sample_;
        return true;
      case 2:  // a [dims, bin] pair ended
        if (pair_item_ != 2) return Fail("tensor without data");
        return Next();
      case 3:  // dims ended
        pair_item_ = 1;
        return true;
      default:
        return true;
    }
  }

  const std::optional<std::string>& error() const { return error_; }
  std::uint32_t num_samples() const { return num_samples_; }

 private:
  FieldSlot& Slot() { return parts_.slots[sample_ * nf_ + field_]; }
  bool Fail(const std::string& what) {
    if (!error_) {
      error_ = depth_ >= 2 && field_ < nf_ ? "sample " + std::to_string(sample_) + " field '" +
                                                 fields_[field_].name + "': " + what
                                           : what;
    }
    return false;
  }
  bool Value(FieldType type) {
    if (depth_ != 2 || field_ >= nf_) return Fail("value outside a sample");
    if (fields_[field_].type != type) {
      return Fail("expected " + std::string(FieldTypeName(fields_[field_].type)));
    }
    return true;
  }
  bool Next() {
    ++field_;
    return true;
  }
  bool Int(std::int64_t v) {
    if (!Value(FieldType::kInt64)) return false;
    Slot().word = static_cast<std::uint64_t>(v);
    return Next();
  }
  bool Float(double v) {
    if (!Value(FieldType::kFloat64)) return false;
    std::memcpy(&Slot().word, &v, sizeof v);
    return Next();
  }

  DecodedBlockParts& parts_;
  const Schema& schema_;
  const std::vector<FieldSpec>& fields_;
  std::size_t nf_;
  const char* base_;
  std::optional<std::uint32_t> expected_;
  std::size_t len_;
  int depth_ = 0;
  std::uint32_t num_samples_ = 0;
  std::size_t sample_ = 0;
  std::size_t field_ = 0;
  int pair_item_ = 0;
  std::size_t dim_ = 0;
  std::uint64_t elements_ = 1;
  std::optional<std::string> error_;
};

}  // namespace

Status ParseWithMsgpackVisitor(DecodedBlockParts& parts,
                               std::optional<std::uint32_t> expected_samples,
                               std::string_view where) {
  SlotVisitor visitor(parts, expected_samples, parts.raw.size());
  std::size_t off = 0;
  bool ok = false;
  try {
    ok = msgpack::parse(reinterpret_cast<const char*>(parts.raw.data()), parts.raw.size(), off,
                        visitor);
  } catch (const std::exception& e) {
    return Status::Corruption(std::string(where) + ": msgpack: " + e.what());
  }
  if (visitor.error()) return Status::Corruption(std::string(where) + ": " + *visitor.error());
  if (!ok) return Status::Corruption(std::string(where) + ": malformed or truncated msgpack");
  if (off != parts.raw.size()) {
    return Status::Corruption(std::string(where) + ": trailing bytes after the sample array");
  }
  parts.num_samples = visitor.num_samples();
  return Status::OK();
}

}  // namespace shardmesh::loader::internal
