// Helpers shared by the shard-format tests: temporary directories, small datasets with every
// field type, and byte-level file damage.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "shardmesh/loader/dataset_writer.h"
#include "shardmesh/loader/schema.h"

namespace shardmesh::loader::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "smfmt-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
inline void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}
inline void FlipByte(const std::string& path, std::uint64_t offset) {
  std::string data = ReadAll(path);
  ASSERT_LT(offset, data.size());
  data[offset] = static_cast<char>(data[offset] ^ 0x5a);
  WriteAll(path, data);
}
inline void Truncate(const std::string& path, std::uint64_t size) {
  std::filesystem::resize_file(path, size);
}

// int64 "id", float64 "score", string "name", bytes "blob", fixed tensor "vec" float32 [4],
// variable tensor "img" uint8 [-1, 3], int64 "label" (label field).
inline Schema AllTypesSchema() {
  std::vector<FieldSpec> f;
  f.push_back({"id", FieldType::kInt64, DType::kFloat32, {}});
  f.push_back({"score", FieldType::kFloat64, DType::kFloat32, {}});
  f.push_back({"name", FieldType::kString, DType::kFloat32, {}});
  f.push_back({"blob", FieldType::kBytes, DType::kFloat32, {}});
  f.push_back({"vec", FieldType::kTensor, DType::kFloat32, {4}});
  f.push_back({"img", FieldType::kTensor, DType::kUint8, {-1, 3}});
  f.push_back({"label", FieldType::kInt64, DType::kFloat32, {}});
  return Schema::Create(std::move(f), "label").value();
}

// The values AllTypesDataset writes for sample i (so tests can check what they read).
inline std::int64_t IdOf(std::uint64_t i) { return static_cast<std::int64_t>(i * 7919) - 5000; }
inline double ScoreOf(std::uint64_t i) { return 0.25 * static_cast<double>(i) - 3.5; }
inline std::string NameOf(std::uint64_t i) {
  return "sample-" + std::string(i % 40, 'x') + std::to_string(i);
}
inline std::vector<std::uint8_t> BlobOf(std::uint64_t i) {
  std::vector<std::uint8_t> b(i % 300);
  for (std::size_t k = 0; k < b.size(); ++k) b[k] = static_cast<std::uint8_t>(k * 31 + i);
  return b;
}
inline std::vector<float> VecOf(std::uint64_t i) {
  return {static_cast<float>(i), -1.5f, 0.125f * static_cast<float>(i), 1e6f};
}
inline std::int64_t RowsOf(std::uint64_t i) { return static_cast<std::int64_t>(i % 5); }
inline std::int64_t LabelOf(std::uint64_t i) { return static_cast<std::int64_t>((i * i) % 3); }

inline void AppendAllTypesSample(DatasetWriter& w, std::uint64_t i) {
  const std::string name = NameOf(i);
  const auto blob = BlobOf(i);
  const auto vec = VecOf(i);
  const std::int64_t rows = RowsOf(i);
  std::vector<std::uint8_t> img(static_cast<std::size_t>(rows) * 3);
  for (std::size_t k = 0; k < img.size(); ++k) img[k] = static_cast<std::uint8_t>(i + k);
  const std::int64_t dims[2] = {rows, 3};
  w.BeginSample();
  w.AddInt64(IdOf(i));
  w.AddFloat64(ScoreOf(i));
  w.AddString(name);
  w.AddBytes(blob);
  w.AddTensor(ByteView(reinterpret_cast<const std::uint8_t*>(vec.data()), vec.size() * 4));
  w.AddTensor(dims, img);
  w.AddInt64(LabelOf(i));
}

// Writes `n` AllTypes samples to `dir` with small blocks so there are several per shard.
inline Manifest WriteAllTypesDataset(const std::string& dir, std::uint64_t n,
                                     std::uint64_t samples_per_shard = 100,
                                     std::size_t block_bytes = 2048) {
  DatasetWriterOptions o;
  o.samples_per_shard = samples_per_shard;
  o.target_block_bytes = block_bytes;
  auto w = DatasetWriter::Create(dir, AllTypesSchema(), o);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  for (std::uint64_t i = 0; i < n; ++i) {
    AppendAllTypesSample(**w, i);
    const Status s = (*w)->EndSample();
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  auto m = (*w)->Finish();
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return *m;
}

}  // namespace shardmesh::loader::testing
