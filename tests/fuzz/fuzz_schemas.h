// Schemas shared by the shard-format fuzzers (chosen by the first input byte) and by the seed
// corpus generator: one with every field type, one shaped like the synthetic datasets.
#pragma once

#include <cstdint>

#include "shardmesh/loader/schema.h"

namespace shardmesh::loader::fuzz {

inline Schema FuzzSchema(std::uint8_t selector) {
  std::vector<FieldSpec> f;
  if (selector % 2 == 0) {
    f.push_back({"id", FieldType::kInt64, DType::kFloat32, {}});
    f.push_back({"score", FieldType::kFloat64, DType::kFloat32, {}});
    f.push_back({"name", FieldType::kString, DType::kFloat32, {}});
    f.push_back({"blob", FieldType::kBytes, DType::kFloat32, {}});
    f.push_back({"vec", FieldType::kTensor, DType::kFloat32, {4}});
    f.push_back({"img", FieldType::kTensor, DType::kUint8, {-1, 3}});
    f.push_back({"label", FieldType::kInt64, DType::kFloat32, {}});
  } else {
    f.push_back({"features", FieldType::kTensor, DType::kFloat32, {8}});
    f.push_back({"tokens", FieldType::kTensor, DType::kUint32, {-1}});
    f.push_back({"label", FieldType::kInt64, DType::kFloat32, {}});
  }
  return Schema::Create(std::move(f), "label").value();
}

}  // namespace shardmesh::loader::fuzz
