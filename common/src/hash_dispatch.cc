#include "hash_dispatch.h"

// Kept apart from hash.cc, which includes xxhash.h with XXH_INLINE_ALL.
#if defined(__x86_64__) && __has_include(<xxh_x86dispatch.h>)
#define XXH_DISPATCH_DISABLE_REPLACE
#include <xxh_x86dispatch.h>
#define SHARDMESH_XXH3_DISPATCH 1
#else
#include <xxhash.h>
#endif

namespace shardmesh::internal {

std::uint64_t Hash64Dispatched(const void* data, std::size_t size, std::uint64_t seed) {
#ifdef SHARDMESH_XXH3_DISPATCH
  return XXH3_64bits_withSeed_dispatch(data, size, seed);
#else
  return XXH3_64bits_withSeed(data, size, seed);
#endif
}

}  // namespace shardmesh::internal
