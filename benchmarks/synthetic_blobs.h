// SyntheticBlobs: a BlobProvider holding kSyntheticBlobs in-memory blobs named "b0".."b15" of
// one size, with deterministic contents, for the exchange benchmarks (exchange_bench and
// mesh_bench_driver serve the same blobs, so their figures compare).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "shardmesh/common/hash.h"
#include "shardmesh/mesh/block_exchange.h"

namespace shardmesh::mesh {

inline constexpr int kSyntheticBlobs = 16;

// The name of blob `i` (taken modulo kSyntheticBlobs).
inline std::string SyntheticBlobName(std::uint64_t i) {
  return "b" + std::to_string(i % kSyntheticBlobs);
}

class SyntheticBlobs : public BlobProvider {
 public:
  explicit SyntheticBlobs(std::size_t size) {
    for (int i = 0; i < kSyntheticBlobs; ++i) {
      std::vector<std::uint8_t> data(size);
      for (std::size_t j = 0; j < size; ++j) data[j] = static_cast<std::uint8_t>(j * 7 + i);
      Blob blob;
      blob.data = SharedBytes::FromVector(std::move(data));
      blob.checksum = Hash64(blob.data.view());
      blobs_.push_back(blob);
    }
  }
  Result<Blob> Get(std::string_view name) override {
    if (name.size() < 2 || name[0] != 'b') return Status::NotFound("no blob " + std::string(name));
    const int i = std::atoi(std::string(name.substr(1)).c_str());
    if (i < 0 || i >= kSyntheticBlobs) return Status::NotFound("no blob " + std::string(name));
    return blobs_[static_cast<std::size_t>(i)];
  }

 private:
  std::vector<Blob> blobs_;
};

}  // namespace shardmesh::mesh
