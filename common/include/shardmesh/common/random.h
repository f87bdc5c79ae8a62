// Deterministic pseudo-random numbers for epoch orders, shuffles and simulations.
//
// std::shuffle and std::uniform_int_distribution are implementation-defined, so an order
// built on them could differ between standard libraries. These are specified here instead:
// xoshiro256** seeded through SplitMix64, Lemire's unbiased bounded integers, and a
// Fisher-Yates shuffle. Same seed, same sequence, on every platform. Not thread-safe: one Rng
// per thread.
#pragma once

#include <cstdint>
#include <span>
#include <utility>

#include "shardmesh/common/hash.h"

namespace shardmesh {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& s : s_) {
      x += 0x9e3779b97f4a7c15ULL;
      s = Mix64(x);
    }
  }

  // Uniform 64-bit value.
  std::uint64_t Next() {
    const std::uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, bound); bound must be > 0.
  std::uint64_t Uniform(std::uint64_t bound) {
    __uint128_t m = static_cast<__uint128_t>(Next()) * bound;
    auto low = static_cast<std::uint64_t>(m);
    if (low < bound) {
      const std::uint64_t threshold = (0 - bound) % bound;
      while (low < threshold) {
        m = static_cast<__uint128_t>(Next()) * bound;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

  // Uniform double in [0, 1).
  double UniformDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  static std::uint64_t Rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

// Fisher-Yates shuffle of `items` driven by `rng`.
template <typename T>
void Shuffle(std::span<T> items, Rng& rng) {
  for (std::size_t i = items.size(); i > 1; --i) {
    const std::size_t j = rng.Uniform(i);
    std::swap(items[i - 1], items[j]);
  }
}

}  // namespace shardmesh
