#include "shardmesh/common/hash.h"

#include <utility>

#include "hash_dispatch.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace shardmesh {

// Below xxh3's long-input threshold (240 bytes) there is no vector loop to speed up, and the
// inlined code saves the call.
constexpr std::size_t kDispatchFrom = 240;

std::uint64_t Hash64(const void* data, std::size_t size, std::uint64_t seed) {
  if (size > kDispatchFrom) return internal::Hash64Dispatched(data, size, seed);
  return XXH3_64bits_withSeed(data, size, seed);
}

std::uint64_t HashU64(std::uint64_t value, std::uint64_t seed) {
  std::uint8_t le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<std::uint8_t>(value >> (8 * i));
  return XXH3_64bits_withSeed(le, sizeof(le), seed);
}

Hasher64::Hasher64(std::uint64_t seed) : state_(XXH3_createState()) {
  XXH3_64bits_reset_withSeed(static_cast<XXH3_state_t*>(state_), seed);
}

Hasher64::~Hasher64() {
  if (state_ != nullptr) XXH3_freeState(static_cast<XXH3_state_t*>(state_));
}

Hasher64::Hasher64(Hasher64&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}

Hasher64& Hasher64::operator=(Hasher64&& other) noexcept {
  if (this != &other) {
    if (state_ != nullptr) XXH3_freeState(static_cast<XXH3_state_t*>(state_));
    state_ = std::exchange(other.state_, nullptr);
  }
  return *this;
}

void Hasher64::Update(const void* data, std::size_t size) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), data, size);
}

std::uint64_t Hasher64::Digest() const {
  return XXH3_64bits_digest(static_cast<XXH3_state_t*>(state_));
}

}  // namespace shardmesh
