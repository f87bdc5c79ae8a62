#include "suspicion.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace shardmesh::mesh {

Suspicion::Suspicion(std::string from, std::uint32_t k, Duration min, Duration max, TimePoint start)
    : k_(k), min_(min), max_(std::max(min, max)), start_(start) {
  // With nobody expected to confirm, waiting for max would only delay detection.
  timeout_ = k_ < 1 ? min_ : max_;
  confirmed_.push_back(std::move(from));
}

Duration Suspicion::Timeout(std::uint32_t n, std::uint32_t k, Duration min, Duration max) {
  if (k < 1) return min;
  const double frac =
      std::log(static_cast<double>(n) + 1.0) / std::log(static_cast<double>(k) + 1.0);
  const double max_s = std::chrono::duration<double>(max).count();
  const double min_s = std::chrono::duration<double>(min).count();
  const double raw = max_s - frac * (max_s - min_s);
  const Duration timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(std::floor(1000.0 * raw)));
  return std::max(timeout, min);
}

bool Suspicion::Confirm(const std::string& from) {
  if (n_ >= k_) return false;
  if (std::find(confirmed_.begin(), confirmed_.end(), from) != confirmed_.end()) return false;
  confirmed_.push_back(from);
  ++n_;
  timeout_ = Timeout(n_, k_, min_, max_);
  return true;
}

}  // namespace shardmesh::mesh
