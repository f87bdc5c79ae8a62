// BlobProvider: where a node's block exchange reads the blobs it serves to peers. The mesh is
// format-agnostic: a blob is opaque bytes under a name (the loader uses names like
// "<dataset digest>/<shard>/<block>") with the xxh3 checksum of those bytes, which the
// fetching side verifies.
//
// Thread-safety: Get is called concurrently from the exchange's server threads (or from the
// node's loop thread when ExchangeOptions::server_threads is 0); implementations must be
// thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "shardmesh/common/bytes.h"
#include "shardmesh/common/status.h"

namespace shardmesh::mesh {

struct Blob {
  SharedBytes data;
  std::uint64_t checksum = 0;  // Hash64(data) (xxh3, seed 0)
};

class BlobProvider {
 public:
  virtual ~BlobProvider() = default;
  // Returns the blob named `name`. NotFound if this node does not hold it; any other error
  // (IOError, Corruption) is passed to the requester, who then tries another holder.
  virtual Result<Blob> Get(std::string_view name) = 0;
};

}  // namespace shardmesh::mesh
