// Fuzzes DatasetCatalog::Decode, the dataset description a worker without the source fetches
// from a peer: any crash or sanitizer report is a bug; errors must be Corruption, or
// InvalidArgument from the layout check behind it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "shardmesh/loader/dataset_catalog.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto c = shardmesh::loader::DatasetCatalog::Decode(shardmesh::ByteView(data, size), "fuzz");
  if (!c.ok() && c.status().code() != shardmesh::StatusCode::kCorruption &&
      c.status().code() != shardmesh::StatusCode::kInvalidArgument) {
    std::abort();
  }
  return 0;
}
