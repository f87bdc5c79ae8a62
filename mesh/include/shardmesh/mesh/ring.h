// HashRing: consistent hashing with virtual nodes, the map from keys (blocks, partitions) to the
// live members that own them. PartitionAssignment: the bounded-load pass over a ring that maps
// the P canonical partitions of an epoch to members with no member above (1+eps) x the mean.
//
// Both are pure value types: the same member set (in any order) and options give the same ring
// and the same assignment on every node, which is what lets nodes agree without talking.
// Thread-safety: immutable after construction; const methods may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shardmesh::mesh {

struct RingOptions {
  // Virtual nodes per member. More vnodes even out load (the standard deviation of a member's
  // share shrinks as 1/sqrt(vnodes)) at the cost of memory (16 bytes each) and rebuild time.
  std::uint32_t vnodes = 128;
  // Seed of the vnode position hash. Every node of a mesh must use the same seed.
  std::uint64_t seed = 0;
};

class HashRing {
 public:
  // Builds the ring of `members` (duplicates removed; order irrelevant). Each member gets
  // options.vnodes points at HashU64(vnode index, Hash64(name, seed)). Never fails: an empty
  // member list gives an empty ring whose lookups return nothing.
  static HashRing Build(std::vector<std::string> members, RingOptions options = {});

  HashRing() = default;

  // The first min(r, member_count()) distinct members clockwise from `key_hash`, primary first.
  std::vector<std::string> Owners(std::uint64_t key_hash, std::size_t r) const;
  // Index into members() of the primary owner of `key_hash`; kNoMember on an empty ring.
  // The hot path: O(1) expected (a prefix table narrows the search to ~1 point), no allocation.
  std::size_t OwnerIndex(std::uint64_t key_hash) const;
  // Name of the primary owner; empty on an empty ring.
  std::string_view Owner(std::uint64_t key_hash) const;
  // Position in the point array of the first point at or after `key_hash` (wrapping).
  // Exposed for walks such as AssignPartitions; requires a non-empty ring.
  std::size_t FirstPointAtOrAfter(std::uint64_t key_hash) const;

  // Sorted, de-duplicated member names.
  const std::vector<std::string>& members() const { return members_; }
  std::size_t member_count() const { return members_.size(); }
  std::size_t point_count() const { return points_.size(); }
  // Member index (into members()) of point `i`.
  std::uint32_t point_owner(std::size_t i) const { return point_owner_[i]; }
  // Ring position of point `i`.
  std::uint64_t point_position(std::size_t i) const { return points_[i]; }
  bool empty() const { return members_.empty(); }
  const RingOptions& options() const { return options_; }

  static constexpr std::size_t kNoMember = static_cast<std::size_t>(-1);

 private:
  RingOptions options_;
  std::vector<std::string> members_;
  std::vector<std::uint64_t> points_;       // sorted ring positions
  std::vector<std::uint32_t> point_owner_;  // member index of each point
  // bucket_start_[b] = first point whose top `bucket_bits_` bits are >= b; size 2^bits + 1.
  std::vector<std::uint32_t> bucket_start_;
  int bucket_bits_ = 0;
};

// Result of AssignPartitions: partition -> member and member -> count.
class PartitionAssignment {
 public:
  PartitionAssignment() = default;
  PartitionAssignment(std::vector<std::string> members, std::vector<std::uint32_t> owner,
                      std::uint32_t cap);

  std::uint32_t partitions() const { return static_cast<std::uint32_t>(owner_.size()); }
  // Owner of `partition` (must be < partitions()); empty when there are no members.
  std::string_view OwnerOf(std::uint32_t partition) const;
  // Index into members() of the owner of `partition`.
  std::uint32_t OwnerIndexOf(std::uint32_t partition) const { return owner_[partition]; }
  // Number of partitions owned by `member` (0 for an unknown name).
  std::uint32_t CountOf(std::string_view member) const;
  // Partitions owned by `member`, ascending.
  std::vector<std::uint32_t> PartitionsOf(std::string_view member) const;
  // Per-member counts, parallel to members().
  const std::vector<std::uint32_t>& counts() const { return counts_; }
  const std::vector<std::string>& members() const { return members_; }
  // The load cap used: max(ceil(P / N), floor((1 + eps) * P / N)).
  std::uint32_t cap() const { return cap_; }

 private:
  std::vector<std::string> members_;
  std::vector<std::uint32_t> owner_;
  std::vector<std::uint32_t> counts_;
  std::uint32_t cap_ = 0;
};

// Bounded-load consistent hashing (after Mirrokni, Thorup, Zadimoghaddam 2018). The partitions
// sit on an evenly spaced grid (in a seeded order) on an assignment ring of the same members
// with 128 vnodes each (256 when P >= 4096: a function of P only, so a join or leave cannot
// change it); each member holds at most the cap max(ceil(P / N), floor((1 + eps) * P / N)).
// The result is the unique stable matching in which partitions rank members clockwise from
// their grid point and members rank partitions by clockwise distance to their points, so it
// depends on (members, ring seed, partitions, eps) only, never on the order of evaluation.
// The floor (rather than the paper's ceil) is what keeps max/mean <= 1 + eps whenever P / N is
// large enough for that to be possible. Movement on a join or leave, and why it exceeds P/N at
// about 10 partitions per member: benchmarks/RESULTS.md (ring). With no members, no owners.
PartitionAssignment AssignPartitions(const HashRing& ring, std::uint32_t partitions,
                                     double eps = 0.1);

// Order-independent digest of a member set, carried in gossip so nodes can tell when their
// views agree. Exactly what is hashed: each distinct member name through XXH3-64 with a fixed
// seed (MemberDigestTerm); the terms are summed mod 2^64 and the sum is mixed with the number
// of names (MemberSetDigestFromSum). A sum, rather than a hash of the sorted names, lets
// Membership keep the digest current in O(1) per change. Membership passes the names of live
// members (alive or suspect), not incarnations: a refutation changes an incarnation but not
// who owns what, so it must not make views disagree.
std::uint64_t MemberSetDigest(std::vector<std::string> members);
std::uint64_t MemberDigestTerm(std::string_view name);
std::uint64_t MemberSetDigestFromSum(std::uint64_t term_sum, std::uint64_t count);

}  // namespace shardmesh::mesh
