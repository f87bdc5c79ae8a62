#include "blob_checksum.h"

#include "shardmesh/common/hash.h"

#if defined(__x86_64__) && __has_include(<xxh_x86dispatch.h>)
#define XXH_DISPATCH_DISABLE_REPLACE
#include <xxh_x86dispatch.h>
#define SHARDMESH_XXH3_DISPATCH 1
#endif

namespace shardmesh::mesh {

// Below xxh3's long-input threshold (240 bytes) there is no vector loop to speed up.
constexpr std::size_t kDispatchFrom = 240;

std::uint64_t BlobChecksum(ByteView data) {
#ifdef SHARDMESH_XXH3_DISPATCH
  if (data.size() > kDispatchFrom) {
    return XXH3_64bits_withSeed_dispatch(data.data(), data.size(), 0);
  }
#endif
  return Hash64(data.data(), data.size());
}

}  // namespace shardmesh::mesh
