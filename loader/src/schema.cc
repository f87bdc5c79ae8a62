#include "shardmesh/loader/schema.h"

#include <array>
#include <unordered_set>

#include "shardmesh/common/hash.h"
#include "shardmesh/common/utf8.h"

namespace shardmesh::loader {

struct Schema::Rep {
  std::vector<FieldSpec> fields;
  std::optional<std::size_t> label_index;
  std::vector<std::size_t> fixed_tensor_bytes;  // per field; 0 unless a fixed-shape tensor
  std::uint64_t digest = 0;
};

namespace {

constexpr std::array<std::string_view, 10> kDTypeNames = {
    "float32", "float64", "float16", "int8", "uint8", "int16", "int32", "uint32", "int64", "bool"};
constexpr std::array<std::size_t, 10> kDTypeSizes = {4, 8, 2, 1, 1, 2, 4, 4, 8, 1};
constexpr std::array<std::string_view, 5> kFieldTypeNames = {"int64", "float64", "string", "bytes",
                                                             "tensor"};

std::uint64_t ComputeDigest(const std::vector<FieldSpec>& fields,
                            const std::optional<std::size_t>& label_index) {
  Hasher64 h(0x5348415244534348ULL);
  auto put_u64 = [&h](std::uint64_t v) {
    std::uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(v >> (8 * i));
    h.Update(b, 8);
  };
  put_u64(fields.size());
  for (const FieldSpec& f : fields) {
    put_u64(f.name.size());
    h.Update(f.name);
    put_u64(static_cast<std::uint64_t>(f.type));
    if (f.type == FieldType::kTensor) {
      put_u64(static_cast<std::uint64_t>(f.dtype));
      put_u64(f.shape.size());
      for (std::int64_t d : f.shape) put_u64(static_cast<std::uint64_t>(d));
    }
  }
  put_u64(label_index ? *label_index + 1 : 0);
  return h.Digest();
}

}  // namespace

std::size_t DTypeSize(DType dtype) { return kDTypeSizes[static_cast<std::size_t>(dtype)]; }
std::string_view DTypeName(DType dtype) { return kDTypeNames[static_cast<std::size_t>(dtype)]; }
std::string_view FieldTypeName(FieldType type) {
  return kFieldTypeNames[static_cast<std::size_t>(type)];
}
std::optional<DType> ParseDType(std::string_view name) {
  for (std::size_t i = 0; i < kDTypeNames.size(); ++i) {
    if (kDTypeNames[i] == name) return static_cast<DType>(i);
  }
  return std::nullopt;
}
std::optional<FieldType> ParseFieldType(std::string_view name) {
  for (std::size_t i = 0; i < kFieldTypeNames.size(); ++i) {
    if (kFieldTypeNames[i] == name) return static_cast<FieldType>(i);
  }
  return std::nullopt;
}

Schema::Schema() : rep_(std::make_shared<const Rep>()) {}

Result<Schema> Schema::Create(std::vector<FieldSpec> fields,
                              std::optional<std::string> label_field) {
  if (fields.empty()) return Status::InvalidArgument("schema: no fields");
  if (fields.size() > 4096) return Status::InvalidArgument("schema: more than 4096 fields");
  auto rep = std::make_shared<Rep>();
  std::unordered_set<std::string> names;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const FieldSpec& f = fields[i];
    const std::string where =
        "schema field " + std::to_string(i) + " '" + EscapeInvalidUtf8(f.name) + "'";
    if (f.name.empty()) return Status::InvalidArgument(where + ": empty name");
    // Names go into the manifest's JSON, which holds only UTF-8 (a CSV header in Latin-1
    // crashed pack when the manifest was written).
    if (!IsValidUtf8(f.name)) {
      return Status::InvalidArgument(where + ": name is not valid UTF-8");
    }
    if (!names.insert(f.name).second) return Status::InvalidArgument(where + ": duplicate name");
    if (static_cast<unsigned>(f.type) > static_cast<unsigned>(FieldType::kTensor)) {
      return Status::InvalidArgument(where + ": unknown field type");
    }
    std::size_t fixed_bytes = 0;
    if (f.type == FieldType::kTensor) {
      if (static_cast<unsigned>(f.dtype) > static_cast<unsigned>(DType::kBool)) {
        return Status::InvalidArgument(where + ": unknown dtype");
      }
      if (f.shape.size() > 32) return Status::InvalidArgument(where + ": rank above 32");
      bool fixed = true;
      std::uint64_t elements = 1;
      for (std::int64_t d : f.shape) {
        if (d == 0 || d < -1) {
          return Status::InvalidArgument(where + ": dimension " + std::to_string(d) +
                                         " (must be >= 1, or -1 for variable)");
        }
        if (d == -1) {
          fixed = false;
        } else {
          elements *= static_cast<std::uint64_t>(d);
          if (elements > (1ull << 30)) {
            return Status::InvalidArgument(where + ": tensor larger than 2^30 elements");
          }
        }
      }
      if (fixed) fixed_bytes = elements * DTypeSize(f.dtype);
    } else if (!f.shape.empty()) {
      return Status::InvalidArgument(where + ": only tensor fields have a shape");
    }
    rep->fixed_tensor_bytes.push_back(fixed_bytes);
  }
  if (label_field) {
    std::optional<std::size_t> idx;
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].name == *label_field) idx = i;
    }
    if (!idx)
      return Status::InvalidArgument("schema: label field '" + EscapeInvalidUtf8(*label_field) +
                                     "' not found");
    if (fields[*idx].type != FieldType::kInt64) {
      return Status::InvalidArgument("schema: label field '" + EscapeInvalidUtf8(*label_field) +
                                     "' is not int64");
    }
    rep->label_index = idx;
  }
  // Non-tensor fields keep no dtype, so equal schemas compare and print equal.
  for (FieldSpec& f : fields) {
    if (f.type != FieldType::kTensor) f.dtype = DType::kFloat32;
  }
  rep->digest = ComputeDigest(fields, rep->label_index);
  rep->fields = std::move(fields);
  return Schema(std::move(rep));
}

const std::vector<FieldSpec>& Schema::fields() const { return rep_->fields; }

std::optional<std::size_t> Schema::FieldIndex(std::string_view name) const {
  for (std::size_t i = 0; i < rep_->fields.size(); ++i) {
    if (rep_->fields[i].name == name) return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> Schema::label_index() const { return rep_->label_index; }

std::optional<std::string> Schema::label_field() const {
  if (!rep_->label_index) return std::nullopt;
  return rep_->fields[*rep_->label_index].name;
}

bool Schema::IsFixedTensor(std::size_t i) const { return rep_->fixed_tensor_bytes[i] != 0; }
std::size_t Schema::FixedTensorBytes(std::size_t i) const { return rep_->fixed_tensor_bytes[i]; }
std::uint64_t Schema::Digest() const { return rep_->digest; }

std::string Schema::ToString() const {
  std::string out;
  for (std::size_t i = 0; i < rep_->fields.size(); ++i) {
    const FieldSpec& f = rep_->fields[i];
    out += f.name + ": " + std::string(FieldTypeName(f.type));
    if (f.type == FieldType::kTensor) {
      out += " " + std::string(DTypeName(f.dtype)) + " [";
      for (std::size_t d = 0; d < f.shape.size(); ++d) {
        if (d) out += ", ";
        out += f.shape[d] < 0 ? std::string("?") : std::to_string(f.shape[d]);
      }
      out += "]";
    }
    if (rep_->label_index == i) out += " (label)";
    out += "\n";
  }
  return out;
}

}  // namespace shardmesh::loader
