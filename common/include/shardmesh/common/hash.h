// Hashing used for checksums, ring placement and deterministic permutations: XXH3 (64 bit).
// Pure functions; thread-safe. Values are stable across platforms and releases, because they
// are written to disk (checksums) and compared across nodes (ring positions, digests).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace shardmesh {

// XXH3-64 of `data` with `seed`.
std::uint64_t Hash64(const void* data, std::size_t size, std::uint64_t seed = 0);
inline std::uint64_t Hash64(std::span<const std::uint8_t> data, std::uint64_t seed = 0) {
  return Hash64(data.data(), data.size(), seed);
}
inline std::uint64_t Hash64(std::string_view s, std::uint64_t seed = 0) {
  return Hash64(s.data(), s.size(), seed);
}
// Without this overload Hash64("abc", 3) would pick (pointer, size) and hash 3 bytes unseeded.
inline std::uint64_t Hash64(const char* s, std::uint64_t seed = 0) {
  return Hash64(std::string_view(s), seed);
}

// Hash of one integer (XXH3 of its 8 little-endian bytes).
std::uint64_t HashU64(std::uint64_t value, std::uint64_t seed = 0);

// SplitMix64 finaliser: a fast bijective mixer for combining integers.
constexpr std::uint64_t Mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Order-dependent combination of two hashes.
constexpr std::uint64_t HashCombine(std::uint64_t a, std::uint64_t b) {
  return Mix64(a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2)));
}

// Streaming XXH3-64 for data that arrives in pieces. Not thread-safe; move-only.
class Hasher64 {
 public:
  explicit Hasher64(std::uint64_t seed = 0);
  ~Hasher64();
  Hasher64(Hasher64&& other) noexcept;
  Hasher64& operator=(Hasher64&& other) noexcept;
  Hasher64(const Hasher64&) = delete;
  Hasher64& operator=(const Hasher64&) = delete;

  void Update(const void* data, std::size_t size);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  std::uint64_t Digest() const;

 private:
  void* state_ = nullptr;  // XXH3_state_t, kept out of this header
};

}  // namespace shardmesh
