// Schema: the typed, ordered fields every sample of a dataset carries, and the optional label
// field (an int64 field used for the label histogram and stratified splits).
//
// A Schema is an immutable value; copies share their storage (one reference count), so blocks
// and readers hold their own copy cheaply. Thread-safe: any thread may read any copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardmesh/common/status.h"

namespace shardmesh::loader {

// Field kinds. The numeric values are written into schema digests: append only.
enum class FieldType { kInt64, kFloat64, kString, kBytes, kTensor };

// Element types of tensor fields. The numeric values are written into schema digests: append
// only.
enum class DType {
  kFloat32,
  kFloat64,
  kFloat16,
  kInt8,
  kUint8,
  kInt16,
  kInt32,
  kUint32,
  kInt64,
  kBool
};

struct FieldSpec {
  std::string name;
  FieldType type = FieldType::kInt64;
  // Tensor fields only: element type and shape; a -1 dimension makes the shape variable (each
  // sample then stores its own dims). Empty shape = scalar tensor.
  DType dtype = DType::kFloat32;
  std::vector<std::int64_t> shape;
};

// Size in bytes of one element of `dtype` (bool is one byte).
std::size_t DTypeSize(DType dtype);
// Stable lower-case names used in manifests and CLI output: "float32", "int64", ...
std::string_view DTypeName(DType dtype);
std::string_view FieldTypeName(FieldType type);
// Inverse of DTypeName / FieldTypeName; nullopt for an unknown name.
std::optional<DType> ParseDType(std::string_view name);
std::optional<FieldType> ParseFieldType(std::string_view name);

class Schema {
 public:
  // Validates and builds a schema. InvalidArgument (naming the field) when: there are no
  // fields; a name is empty or repeated; a non-tensor field has a shape; a tensor dimension is
  // 0 or below -1; `label_field` is not the name of an int64 field.
  static Result<Schema> Create(std::vector<FieldSpec> fields,
                               std::optional<std::string> label_field);

  // An empty schema (no fields); only useful as a placeholder before assignment.
  Schema();

  const std::vector<FieldSpec>& fields() const;
  std::size_t num_fields() const { return fields().size(); }
  // Position of the field called `name`, or nullopt.
  std::optional<std::size_t> FieldIndex(std::string_view name) const;
  // Position of the label field, or nullopt when the schema has none.
  std::optional<std::size_t> label_index() const;
  // Name of the label field, or nullopt.
  std::optional<std::string> label_field() const;
  // True when field `i` is a tensor with a fixed shape (no -1 dims).
  bool IsFixedTensor(std::size_t i) const;
  // Bytes of one value of fixed-shape tensor field `i` (product of dims times element size).
  std::size_t FixedTensorBytes(std::size_t i) const;
  // XXH3 of a canonical encoding of the fields and the label field; stored in every shard
  // footer so a shard cannot be read against another dataset's schema.
  std::uint64_t Digest() const;
  // One line per field, e.g. "features: tensor float32 [256]"; for CLI output.
  std::string ToString() const;

  friend bool operator==(const Schema& a, const Schema& b) { return a.Digest() == b.Digest(); }

 private:
  struct Rep;
  explicit Schema(std::shared_ptr<const Rep> rep) : rep_(std::move(rep)) {}
  std::shared_ptr<const Rep> rep_;
};

}  // namespace shardmesh::loader
