// AssignPartitions: the bounded-load assignment of canonical partitions to ring members
// (declared in ring.h beside the ring it is derived from).
#include <algorithm>
#include <cmath>

#include "shardmesh/common/hash.h"
#include "shardmesh/mesh/ring.h"

namespace shardmesh::mesh {

PartitionAssignment::PartitionAssignment(std::vector<std::string> members,
                                         std::vector<std::uint32_t> owner, std::uint32_t cap)
    : members_(std::move(members)), owner_(std::move(owner)), cap_(cap) {
  counts_.assign(members_.size(), 0);
  if (members_.empty()) return;
  for (std::uint32_t m : owner_) ++counts_[m];
}

std::string_view PartitionAssignment::OwnerOf(std::uint32_t partition) const {
  if (members_.empty() || partition >= owner_.size()) return {};
  return members_[owner_[partition]];
}

std::uint32_t PartitionAssignment::CountOf(std::string_view member) const {
  auto it = std::lower_bound(members_.begin(), members_.end(), member);
  if (it == members_.end() || *it != member) return 0;
  return counts_[static_cast<std::size_t>(it - members_.begin())];
}

std::vector<std::uint32_t> PartitionAssignment::PartitionsOf(std::string_view member) const {
  std::vector<std::uint32_t> out;
  auto it = std::lower_bound(members_.begin(), members_.end(), member);
  if (it == members_.end() || *it != member) return out;
  const auto m = static_cast<std::uint32_t>(it - members_.begin());
  for (std::uint32_t p = 0; p < owner_.size(); ++p) {
    if (owner_[p] == m) out.push_back(p);
  }
  return out;
}

namespace {

// Salts the partition grid order so partition i does not land exactly where a key hashing to
// HashU64(i, seed) would; any fixed constant works as long as every node uses the same one.
constexpr std::uint64_t kPartitionSalt = 0x70617274697469ULL;  // "partiti"

// max(ceil(P/N), floor((1+eps) P/N)): the floor keeps max/mean <= 1+eps; the ceil keeps
// cap x N >= P so every partition finds a member below the cap.
std::uint32_t LoadCap(std::uint32_t partitions, std::size_t n, double eps) {
  const double mean = static_cast<double>(partitions) / static_cast<double>(n);
  const auto floor_cap =
      static_cast<std::uint32_t>(std::floor((1.0 + std::max(0.0, eps)) * mean + 1e-9));
  const auto ceil_mean = static_cast<std::uint32_t>((partitions + n - 1) / n);
  return std::max({floor_cap, ceil_mean, std::uint32_t{1}});
}

// Vnodes per member of the assignment ring (distinct from the lookup ring's RingOptions::vnodes).
// A function of P only, never of the member set, so a join or leave cannot change it. With
// many partitions per member the spill chains come from unequal ring shares (std ~1/sqrt(V));
// with ~10 partitions per member they come from the discreteness of the partitions, which more
// vnodes do not help. 256 vs 128 measured at N=100: P=10000 join/leave 1.19/1.09 vs 1.25/1.16
// (40 seeds); P=1024 unchanged within noise.
std::uint32_t AssignmentVnodes(std::uint32_t partitions) { return partitions >= 4096 ? 256 : 128; }

}  // namespace

PartitionAssignment AssignPartitions(const HashRing& ring, std::uint32_t partitions, double eps) {
  const std::size_t n = ring.member_count();
  if (n == 0) return PartitionAssignment({}, std::vector<std::uint32_t>(partitions, 0), 0);
  const std::uint32_t cap = LoadCap(partitions, n, eps);
  const std::uint64_t seed = ring.options().seed ^ kPartitionSalt;
  // The assignment ring: the lookup ring itself when it has the vnode count wanted here.
  const std::uint32_t vnodes = AssignmentVnodes(partitions);
  HashRing own;
  if (ring.options().vnodes != vnodes) {
    own = HashRing::Build(ring.members(), {.vnodes = vnodes, .seed = ring.options().seed});
  }
  const HashRing& points = ring.options().vnodes == vnodes ? ring : own;
  const std::size_t point_count = points.point_count();

  // Partitions sit on an evenly spaced grid (in a seeded random order) rather than at random
  // points: random points add Poisson noise (std sqrt(P/N)) to each member's load, pushing more
  // members over the cap and so more partitions into spill chains that move on every change.
  std::vector<std::uint64_t> hash(partitions);
  std::vector<std::size_t> cursor(partitions);
  {
    std::vector<std::pair<std::uint64_t, std::uint32_t>> order(partitions);
    for (std::uint32_t p = 0; p < partitions; ++p) order[p] = {HashU64(p, seed), p};
    std::sort(order.begin(), order.end());
    const std::uint64_t spacing = partitions == 0 ? 0 : ~std::uint64_t{0} / partitions;
    const std::uint64_t offset = Mix64(seed) % (spacing == 0 ? 1 : spacing);
    // Grid positions ascend with r, so one merge pass finds each first point at or after.
    std::size_t i = 0;
    for (std::uint32_t r = 0; r < partitions; ++r) {
      const std::uint32_t p = order[r].second;
      hash[p] = offset + spacing * r;
      while (i < point_count && points.point_position(i) < hash[p]) ++i;
      cursor[p] = i == point_count ? 0 : i;
    }
  }

  // Deferred acceptance (partition-proposing): each partition proposes to the distinct members
  // clockwise from its grid position in turn; a member holds the proposals nearest to its point
  // (smallest clockwise distance, then lowest partition) up to the cap and rejects the rest.
  // Both sides rank by the same distance, so the stable matching is unique and does not depend
  // on the proposal order: the result is a function of (members, seed, P, eps) only.
  struct Held {
    std::uint64_t distance;
    std::uint32_t partition;
    bool operator<(const Held& o) const {
      return distance != o.distance ? distance < o.distance : partition < o.partition;
    }
  };
  std::vector<std::vector<Held>> held(n);  // max-heaps: front() is the worst held proposal
  std::vector<std::vector<std::uint32_t>> tried(partitions);  // members already proposed to
  std::vector<std::uint32_t> owner(partitions, 0);
  for (std::uint32_t next = 0; next < partitions; ++next) {
    std::uint32_t p = next;
    // Every member has a point and cap x N >= P, so some member always accepts.
    for (;;) {
      const std::size_t at = cursor[p];
      if (++cursor[p] == point_count) cursor[p] = 0;
      const std::uint32_t m = points.point_owner(at);
      std::vector<std::uint32_t>& seen = tried[p];
      if (std::find(seen.begin(), seen.end(), m) != seen.end()) continue;
      seen.push_back(m);
      const Held offer{points.point_position(at) - hash[p], p};
      std::vector<Held>& h = held[m];
      if (h.size() < cap) {
        h.push_back(offer);
        std::push_heap(h.begin(), h.end());
        owner[p] = m;
        break;
      }
      if (offer < h.front()) {
        std::pop_heap(h.begin(), h.end());
        const std::uint32_t bumped = h.back().partition;
        h.back() = offer;
        std::push_heap(h.begin(), h.end());
        owner[p] = m;
        p = bumped;  // continue with the rejected partition
      }
    }
  }
  return PartitionAssignment(ring.members(), std::move(owner), cap);
}

}  // namespace shardmesh::mesh
