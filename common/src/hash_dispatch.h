// XXH3-64 through libxxhash's run-time CPU dispatch (AVX2 or AVX-512 where the CPU has them),
// for long inputs. The same value as Hash64's inlined (SSE2) code, 2-3 times faster on a
// 256 KiB block here.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shardmesh::internal {

std::uint64_t Hash64Dispatched(const void* data, std::size_t size, std::uint64_t seed);

}  // namespace shardmesh::internal
