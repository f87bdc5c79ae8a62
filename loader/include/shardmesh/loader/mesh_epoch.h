// How a mesh-mode epoch maps canonical partitions to the epoch's members (issue 4 item 3):
// a preference list per partition whose first entry is the initial owner and whose rest is
// the takeover order (partition_table.h).
//
//  - kConsistentHash (default, locality-first): partition p goes to a holder of its dominant
//    shard (the shard most of its blocks come from), owners(shard, R) on the same ring as
//    placement, so most reads are local; the least-loaded holder gets it, and a bounded-load
//    pass caps every member at ceil((1 + eps) * P / N) partitions, sending the overflow to the
//    least-loaded member (a remote read). The
//    takeover order lists the other holders first, so a failover stays local too.
//  - kGlobalShuffle: partitions are dealt by the bounded-load ring (AssignPartitions) over a
//    ring salted with the epoch, regardless of where blocks live: each worker's stream is a
//    fresh sample of the whole dataset every epoch, read across the mesh.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shardmesh/common/status.h"
#include "shardmesh/loader/dataset_catalog.h"
#include "shardmesh/loader/epoch_order.h"
#include "shardmesh/mesh/ring.h"

namespace shardmesh::loader {

enum class MeshStrategy { kConsistentHash, kGlobalShuffle };

// "consistent-hash" or "global-shuffle".
std::string_view MeshStrategyName(MeshStrategy strategy);
// Inverse of MeshStrategyName; InvalidArgument listing the valid names otherwise.
Result<MeshStrategy> ParseMeshStrategy(std::string_view name);

struct MeshEpochInputs {
  MeshStrategy strategy = MeshStrategy::kConsistentHash;
  std::uint32_t replication = 2;
  mesh::RingOptions ring;
  std::uint64_t seed = 0;
  std::uint64_t epoch = 0;
  // Bounded-load slack: no member gets more than ceil((1 + eps) * P / N) partitions.
  double eps = 0.25;
};

// Preference lists (indices into `members`, sorted names, non-empty) for every partition of
// `order`. Every list is a permutation of all members.
std::vector<std::vector<std::uint16_t>> BuildPreferences(const DatasetCatalog& catalog,
                                                         const EpochOrder& order,
                                                         const std::vector<std::string>& members,
                                                         const MeshEpochInputs& inputs);

}  // namespace shardmesh::loader
