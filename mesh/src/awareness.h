// Awareness: Lifeguard's local health score (hashicorp/memberlist awareness.go). A node that
// misses acks and nacks it should have received, or has to refute suspicions about itself, is
// more likely slow itself than surrounded by dead peers; it raises its score and stretches its
// own probe timeouts and interval by (1 + score) instead of accusing healthy peers.
//
// Pure value type. Not thread-safe.
#pragma once

#include <cstdint>

#include "shardmesh/common/clock.h"

namespace shardmesh::mesh {

class Awareness {
 public:
  // Scores range over [0, max_multiplier - 1]; max_multiplier 1 disables scaling.
  explicit Awareness(std::uint32_t max_multiplier) : max_(max_multiplier) {}

  // Adds `delta` (negative to improve health), clamped to the range.
  void ApplyDelta(int delta);
  int score() const { return score_; }
  // timeout * (1 + score).
  Duration ScaleTimeout(Duration timeout) const { return timeout * (score_ + 1); }

 private:
  std::uint32_t max_;
  int score_ = 0;
};

}  // namespace shardmesh::mesh
