// Walker/Vose alias table: O(1) sampling from a fixed discrete distribution, deterministic for
// a given Rng (built with IEEE +, -, *, / only, so identical everywhere).
#pragma once

#include <cstdint>
#include <vector>

#include "shardmesh/common/random.h"

namespace shardmesh::loader {

class AliasTable {
 public:
  // `weights` must be non-empty and positive.
  explicit AliasTable(const std::vector<double>& weights) {
    const std::size_t n = weights.size();
    double total = 0;
    for (double w : weights) total += w;
    std::vector<double> scaled(n);
    std::vector<std::uint32_t> small, large;
    for (std::size_t i = 0; i < n; ++i) {
      scaled[i] = weights[i] * static_cast<double>(n) / total;
      (scaled[i] < 1.0 ? small : large).push_back(static_cast<std::uint32_t>(i));
    }
    threshold_.assign(n, ~0ull);
    alias_.resize(n);
    for (std::size_t i = 0; i < n; ++i) alias_[i] = static_cast<std::uint32_t>(i);
    while (!small.empty() && !large.empty()) {
      const std::uint32_t s = small.back();
      small.pop_back();
      const std::uint32_t l = large.back();
      threshold_[s] = ToThreshold(scaled[s]);
      alias_[s] = l;
      scaled[l] = (scaled[l] + scaled[s]) - 1.0;
      if (scaled[l] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
  }

  std::uint32_t Sample(Rng& rng) const {
    const std::uint64_t r = rng.Next();
    // High bits pick the column (multiply-shift), the full word decides column vs alias; the
    // two uses overlap only negligibly for tables far smaller than 2^32.
    const auto col =
        static_cast<std::uint32_t>((static_cast<__uint128_t>(r) * threshold_.size()) >> 64);
    const std::uint64_t coin = r * 0x9e3779b97f4a7c15ULL;
    return coin < threshold_[col] ? col : alias_[col];
  }

 private:
  static std::uint64_t ToThreshold(double p) {
    if (p >= 1.0) return ~0ull;
    if (p <= 0.0) return 0;
    return static_cast<std::uint64_t>(p * 18446744073709551616.0);
  }
  std::vector<std::uint64_t> threshold_;
  std::vector<std::uint32_t> alias_;
};

}  // namespace shardmesh::loader
