// MemberTable: one node's records of every member it knows (itself included), with the
// indexes Membership needs on every message: O(1) lookup by name, O(1) uniform choice of a live
// peer, and the live-set digest kept current in O(1) per state change (so a 1,000-node mesh
// does not re-hash its view on every ping).
//
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "shardmesh/common/random.h"
#include "shardmesh/mesh/member.h"
#include "suspicion.h"

namespace shardmesh::mesh {

struct MemberRecord {
  MemberInfo info;
  std::optional<Suspicion> suspicion;  // set while info.state == kSuspect
  std::uint64_t reported_digest = 0;   // the ViewDigest this member last sent us
  bool has_reported_digest = false;
};

class MemberTable {
 public:
  explicit MemberTable(std::string self) : self_(std::move(self)) {}

  MemberRecord* Find(const std::string& name);
  const MemberRecord* Find(const std::string& name) const;
  // Inserts a new record (the name must be absent) and returns it.
  MemberRecord& Insert(MemberInfo info);
  // Changes a member's state, keeping the live index and digest in step.
  void SetState(MemberRecord& record, MemberState state);
  // Forgets a member entirely (reclaim).
  void Erase(const std::string& name);

  // Live peers: alive or suspect members other than self.
  const std::vector<std::string>& live_peers() const { return live_peers_; }
  // Up to `k` distinct live peers chosen uniformly, none equal to `exclude`.
  std::vector<std::string> RandomLivePeers(std::size_t k, const std::string& exclude,
                                           Rng& rng) const;
  // Live members including self.
  std::size_t live_count() const { return live_peers_.size() + (self_live_ ? 1 : 0); }
  // MemberSetDigest of the live members, self included.
  std::uint64_t digest() const;

  const std::unordered_map<std::string, MemberRecord>& records() const { return records_; }
  std::size_t size() const { return records_.size(); }

 private:
  void AddLive(const std::string& name);
  void RemoveLive(const std::string& name);

  std::string self_;
  bool self_live_ = false;
  std::unordered_map<std::string, MemberRecord> records_;
  std::vector<std::string> live_peers_;
  std::unordered_map<std::string, std::size_t> live_index_;
  std::uint64_t term_sum_ = 0;  // sum of MemberDigestTerm over live members, self included
};

}  // namespace shardmesh::mesh
