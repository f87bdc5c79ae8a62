#include "shardmesh/loader/mesh_epoch.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "shardmesh/common/hash.h"
#include "shardmesh/loader/mesh_placement.h"

namespace shardmesh::loader {
namespace {

constexpr std::uint64_t kTakeoverDomain = 0x74616b656f766572ULL;  // "takeover"
constexpr std::uint64_t kShuffleDomain = 0x73687566666c65ULL;     // "shuffle"

std::uint16_t IndexOf(const std::vector<std::string>& members, std::string_view name) {
  return static_cast<std::uint16_t>(std::lower_bound(members.begin(), members.end(), name) -
                                    members.begin());
}

// Appends every member not yet in `list`, in ring order from the partition's own position.
void CompleteList(const mesh::HashRing& ring, const std::vector<std::string>& members,
                  std::uint64_t key, std::vector<std::uint16_t>& list) {
  for (const auto& name : ring.Owners(key, members.size())) {
    const std::uint16_t i = IndexOf(members, name);
    if (std::find(list.begin(), list.end(), i) == list.end()) list.push_back(i);
  }
}

}  // namespace

std::string_view MeshStrategyName(MeshStrategy strategy) {
  return strategy == MeshStrategy::kGlobalShuffle ? "global-shuffle" : "consistent-hash";
}

Result<MeshStrategy> ParseMeshStrategy(std::string_view name) {
  if (name == "consistent-hash") return MeshStrategy::kConsistentHash;
  if (name == "global-shuffle") return MeshStrategy::kGlobalShuffle;
  return Status::InvalidArgument("unknown mesh strategy '" + std::string(name) +
                                 "' (valid: consistent-hash, global-shuffle)");
}

std::vector<std::vector<std::uint16_t>> BuildPreferences(const DatasetCatalog& catalog,
                                                         const EpochOrder& order,
                                                         const std::vector<std::string>& members,
                                                         const MeshEpochInputs& in) {
  const std::uint32_t P = order.num_partitions();
  std::vector<std::vector<std::uint16_t>> pref(P);
  if (members.empty()) return pref;
  const auto ring = mesh::HashRing::Build(members, in.ring);
  const std::uint64_t epoch_salt = HashCombine(HashCombine(kTakeoverDomain, in.seed), in.epoch);
  if (in.strategy == MeshStrategy::kGlobalShuffle) {
    mesh::RingOptions salted = in.ring;
    salted.seed = HashCombine(HashCombine(kShuffleDomain, in.ring.seed ^ in.seed), in.epoch);
    const auto shuffle_ring = mesh::HashRing::Build(members, salted);
    const auto assignment = mesh::AssignPartitions(shuffle_ring, P, in.eps);
    for (std::uint32_t p = 0; p < P; ++p) {
      pref[p].push_back(IndexOf(members, assignment.OwnerOf(p)));
      CompleteList(ring, members, HashU64(p, epoch_salt), pref[p]);
    }
    return pref;
  }
  const std::uint32_t n = static_cast<std::uint32_t>(members.size());
  const auto cap = static_cast<std::uint32_t>(std::ceil((1.0 + in.eps) * P / n));
  std::vector<std::uint32_t> load(n, 0);
  for (std::uint32_t p = 0; p < P; ++p) {
    std::map<std::uint32_t, std::uint32_t> blocks_of_shard;
    for (std::uint32_t b : order.PartitionBlocks(p)) ++blocks_of_shard[catalog.blocks()[b].shard];
    std::uint32_t dominant = 0, most = 0;
    for (const auto& [shard, count] : blocks_of_shard) {
      if (count > most) dominant = shard, most = count;
    }
    std::vector<std::uint16_t> holders;
    for (const auto& name : ring.Owners(ShardRingKey(catalog.id(), dominant), in.replication)) {
      holders.push_back(IndexOf(members, name));
    }
    // Rotate the holders by partition so that replicas share the reading, not just the primary.
    if (!holders.empty()) {
      std::rotate(holders.begin(), holders.begin() + (HashU64(p, epoch_salt) % holders.size()),
                  holders.end());
    }
    // The least-loaded holder below the cap (ties: the rotated order), so that a member
    // holding few shards still gets its share of partitions before others fill up.
    std::int32_t owner = -1;
    for (std::uint16_t h : holders) {
      if (load[h] < cap && (owner < 0 || load[h] < load[static_cast<std::uint32_t>(owner)])) {
        owner = h;
      }
    }
    if (owner < 0) {
      owner = static_cast<std::int32_t>(std::min_element(load.begin(), load.end()) - load.begin());
    }
    ++load[static_cast<std::uint32_t>(owner)];
    auto& list = pref[p];
    list.push_back(static_cast<std::uint16_t>(owner));
    for (std::uint16_t h : holders)
      if (h != owner) list.push_back(h);
    CompleteList(ring, members, HashU64(p, epoch_salt), list);
  }
  return pref;
}

}  // namespace shardmesh::loader
