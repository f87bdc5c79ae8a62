#include "shardmesh/mesh/ring.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "shardmesh/common/hash.h"

namespace shardmesh::mesh {
namespace {

// Salts the partition hash so partition i does not land exactly where a key hashing to
// HashU64(i, seed) would; any fixed constant works as long as every node uses the same one.
constexpr std::uint64_t kPartitionSalt = 0x70617274697469ULL;  // "partiti"
constexpr std::uint64_t kDigestSeed = 0x6d656d62657273ULL;     // "members"

// max(ceil(P/N), floor((1+eps) P/N)): the floor keeps max/mean <= 1+eps; the ceil keeps
// cap x N >= P so every partition finds a member below the cap.
std::uint32_t LoadCap(std::uint32_t partitions, std::size_t n, double eps) {
  const double mean = static_cast<double>(partitions) / static_cast<double>(n);
  const auto floor_cap =
      static_cast<std::uint32_t>(std::floor((1.0 + std::max(0.0, eps)) * mean + 1e-9));
  const auto ceil_mean = static_cast<std::uint32_t>((partitions + n - 1) / n);
  return std::max({floor_cap, ceil_mean, std::uint32_t{1}});
}

void SortUnique(std::vector<std::string>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

}  // namespace

HashRing HashRing::Build(std::vector<std::string> members, RingOptions options) {
  HashRing ring;
  ring.options_ = options;
  SortUnique(members);
  ring.members_ = std::move(members);
  if (ring.members_.empty() || options.vnodes == 0) {
    ring.members_.clear();
    return ring;
  }
  struct Point {
    std::uint64_t pos;
    std::uint32_t owner;
  };
  std::vector<Point> points;
  points.reserve(ring.members_.size() * options.vnodes);
  for (std::uint32_t m = 0; m < ring.members_.size(); ++m) {
    const std::uint64_t name_hash = Hash64(ring.members_[m], options.seed);
    for (std::uint32_t v = 0; v < options.vnodes; ++v) {
      points.push_back({HashU64(v, name_hash), m});
    }
  }
  // Ties (vanishingly rare) are broken by member index, i.e. by name: still deterministic.
  std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) {
    return a.pos != b.pos ? a.pos < b.pos : a.owner < b.owner;
  });
  ring.points_.resize(points.size());
  ring.point_owner_.resize(points.size());
  for (std::size_t i = 0; i < points.size(); ++i) {
    ring.points_[i] = points[i].pos;
    ring.point_owner_[i] = points[i].owner;
  }
  // About one point per bucket: the lookup then touches the bucket table and one or two points
  // instead of the ~17 dependent cache misses of a binary search over 128k points.
  const int bits = std::clamp(static_cast<int>(std::bit_width(points.size())), 1, 22);
  ring.bucket_bits_ = bits;
  const std::size_t buckets = std::size_t{1} << bits;
  ring.bucket_start_.assign(buckets + 1, 0);
  std::size_t p = 0;
  for (std::size_t b = 0; b <= buckets; ++b) {
    while (p < ring.points_.size() && (ring.points_[p] >> (64 - bits)) < b) ++p;
    ring.bucket_start_[b] = static_cast<std::uint32_t>(p);
  }
  return ring;
}

std::size_t HashRing::FirstPointAtOrAfter(std::uint64_t key_hash) const {
  const std::size_t b = key_hash >> (64 - bucket_bits_);
  std::size_t i = bucket_start_[b];
  const std::size_t end = bucket_start_[b + 1];
  while (i < end && points_[i] < key_hash) ++i;
  return i == points_.size() ? 0 : i;
}

std::size_t HashRing::OwnerIndex(std::uint64_t key_hash) const {
  if (points_.empty()) return kNoMember;
  return point_owner_[FirstPointAtOrAfter(key_hash)];
}

std::string_view HashRing::Owner(std::uint64_t key_hash) const {
  const std::size_t m = OwnerIndex(key_hash);
  return m == kNoMember ? std::string_view() : std::string_view(members_[m]);
}

std::vector<std::string> HashRing::Owners(std::uint64_t key_hash, std::size_t r) const {
  std::vector<std::string> out;
  if (points_.empty() || r == 0) return out;
  r = std::min(r, members_.size());
  out.reserve(r);
  std::vector<std::uint32_t> seen;
  seen.reserve(r);
  std::size_t i = FirstPointAtOrAfter(key_hash);
  // Every member has a point, so one full turn always finds r distinct members.
  for (std::size_t steps = 0; steps < points_.size() && seen.size() < r; ++steps) {
    const std::uint32_t m = point_owner_[i];
    if (std::find(seen.begin(), seen.end(), m) == seen.end()) {
      seen.push_back(m);
      out.push_back(members_[m]);
    }
    if (++i == points_.size()) i = 0;
  }
  return out;
}

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

PartitionAssignment AssignPartitions(const HashRing& ring, std::uint32_t partitions, double eps) {
  const std::size_t n = ring.member_count();
  if (n == 0) return PartitionAssignment({}, std::vector<std::uint32_t>(partitions, 0), 0);
  const std::uint32_t cap = LoadCap(partitions, n, eps);
  const std::uint64_t seed = ring.options().seed ^ kPartitionSalt;

  // Proposal rounds (a deferred-acceptance matching) rather than one greedy pass in partition
  // order: in a greedy pass which partition overflows a full member depends on every earlier
  // placement, so one join cascades through the whole ring. Here each unplaced partition
  // proposes to the owner of the next point clockwise; a member keeps the proposals nearest to
  // its point (smallest clockwise distance) up to the cap. The outcome depends only on local
  // distances, so a join or leave mostly moves the partitions that change owner on the plain
  // ring. Measured movement: ring_test JoinOrLeaveMovesAboutOneNth.
  struct Proposal {
    std::uint64_t distance;  // clockwise from the partition hash to the point
    std::uint32_t partition;
  };
  std::vector<std::uint64_t> hash(partitions);
  std::vector<std::size_t> cursor(partitions);
  std::vector<std::uint32_t> owner(partitions, 0);
  std::vector<std::uint32_t> counts(n, 0);
  std::vector<std::uint32_t> pending(partitions);
  // Partitions sit on an evenly spaced grid (in a seeded random order) rather than at random
  // points: random points add Poisson noise (std sqrt(P/N)) to each member's load, pushing more
  // members over the cap and so more partitions into spill chains that move on every change.
  {
    std::vector<std::pair<std::uint64_t, std::uint32_t>> order(partitions);
    for (std::uint32_t p = 0; p < partitions; ++p) order[p] = {HashU64(p, seed), p};
    std::sort(order.begin(), order.end());
    const std::uint64_t spacing = partitions == 0 ? 0 : ~std::uint64_t{0} / partitions;
    const std::uint64_t offset = Mix64(seed) % (spacing == 0 ? 1 : spacing);
    for (std::uint32_t r = 0; r < partitions; ++r) {
      hash[order[r].second] = offset + spacing * r;
    }
  }
  for (std::uint32_t p = 0; p < partitions; ++p) {
    cursor[p] = ring.FirstPointAtOrAfter(hash[p]);
    pending[p] = p;
  }
  std::vector<std::vector<Proposal>> inbox(n);
  std::vector<std::uint32_t> touched;
  while (!pending.empty()) {
    touched.clear();
    for (std::uint32_t p : pending) {
      // Skip members already full: they would reject anyway.
      while (counts[ring.point_owner(cursor[p])] >= cap) {
        if (++cursor[p] == ring.point_count()) cursor[p] = 0;
      }
      const std::uint32_t m = ring.point_owner(cursor[p]);
      if (inbox[m].empty()) touched.push_back(m);
      inbox[m].push_back({ring.point_position(cursor[p]) - hash[p], p});
    }
    pending.clear();
    for (std::uint32_t m : touched) {
      std::vector<Proposal>& in = inbox[m];
      std::sort(in.begin(), in.end(), [](const Proposal& a, const Proposal& b) {
        return a.distance != b.distance ? a.distance < b.distance : a.partition < b.partition;
      });
      const std::size_t room = cap - counts[m];
      for (std::size_t i = 0; i < in.size(); ++i) {
        const std::uint32_t p = in[i].partition;
        if (i < room) {
          owner[p] = m;
          ++counts[m];
        } else {
          if (++cursor[p] == ring.point_count()) cursor[p] = 0;
          pending.push_back(p);
        }
      }
      in.clear();
    }
    // Deterministic round order regardless of which member rejected first.
    std::sort(pending.begin(), pending.end());
  }
  return PartitionAssignment(ring.members(), std::move(owner), cap);
}

std::uint64_t MemberDigestTerm(std::string_view name) { return Hash64(name, kDigestSeed); }

std::uint64_t MemberSetDigestFromSum(std::uint64_t term_sum, std::uint64_t count) {
  return HashCombine(Mix64(term_sum), count);
}

std::uint64_t MemberSetDigest(std::vector<std::string> members) {
  SortUnique(members);
  std::uint64_t sum = 0;
  for (const std::string& name : members) sum += MemberDigestTerm(name);
  return MemberSetDigestFromSum(sum, members.size());
}

}  // namespace shardmesh::mesh
