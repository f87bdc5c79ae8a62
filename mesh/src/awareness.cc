#include "awareness.h"

#include <algorithm>

namespace shardmesh::mesh {

void Awareness::ApplyDelta(int delta) {
  const int top = max_ == 0 ? 0 : static_cast<int>(max_) - 1;
  score_ = std::clamp(score_ + delta, 0, top);
}

}  // namespace shardmesh::mesh
