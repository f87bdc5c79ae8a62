#include "member_table.h"

#include <algorithm>

#include "shardmesh/mesh/ring.h"

namespace shardmesh::mesh {

MemberRecord* MemberTable::Find(const std::string& name) {
  auto it = records_.find(name);
  return it == records_.end() ? nullptr : &it->second;
}

const MemberRecord* MemberTable::Find(const std::string& name) const {
  auto it = records_.find(name);
  return it == records_.end() ? nullptr : &it->second;
}

MemberRecord& MemberTable::Insert(MemberInfo info) {
  const std::string name = info.name;
  const MemberState state = info.state;
  MemberRecord& rec = records_[name];
  rec.info = std::move(info);
  if (IsLive(state)) AddLive(name);
  return rec;
}

void MemberTable::SetState(MemberRecord& record, MemberState state) {
  const bool was_live = IsLive(record.info.state);
  record.info.state = state;
  if (was_live && !IsLive(state)) RemoveLive(record.info.name);
  if (!was_live && IsLive(state)) AddLive(record.info.name);
}

void MemberTable::Erase(const std::string& name) {
  auto it = records_.find(name);
  if (it == records_.end()) return;
  if (IsLive(it->second.info.state)) RemoveLive(name);
  records_.erase(it);
}

void MemberTable::AddLive(const std::string& name) {
  term_sum_ += MemberDigestTerm(name);
  if (name == self_) {
    self_live_ = true;
    return;
  }
  live_index_[name] = live_peers_.size();
  live_peers_.push_back(name);
}

void MemberTable::RemoveLive(const std::string& name) {
  term_sum_ -= MemberDigestTerm(name);
  if (name == self_) {
    self_live_ = false;
    return;
  }
  auto it = live_index_.find(name);
  if (it == live_index_.end()) return;
  const std::size_t i = it->second;
  live_index_.erase(it);
  if (i + 1 != live_peers_.size()) {
    live_peers_[i] = std::move(live_peers_.back());
    live_index_[live_peers_[i]] = i;
  }
  live_peers_.pop_back();
}

std::vector<std::string> MemberTable::RandomLivePeers(std::size_t k, const std::string& exclude,
                                                      Rng& rng) const {
  std::vector<std::string> out;
  const std::size_t n = live_peers_.size();
  if (n == 0 || k == 0) return out;
  // Few picks out of many: sample with rejection; bounded tries keep it O(k) even when
  // nearly every candidate is excluded.
  for (std::size_t tries = 0; tries < 4 * k + 8 && out.size() < k; ++tries) {
    const std::string& c = live_peers_[rng.Uniform(n)];
    if (c == exclude || std::find(out.begin(), out.end(), c) != out.end()) continue;
    out.push_back(c);
  }
  if (out.size() < k && n <= 4 * k + 8) {
    // Small tables: a scan finds whoever the random tries missed.
    for (const std::string& c : live_peers_) {
      if (out.size() >= k) break;
      if (c == exclude || std::find(out.begin(), out.end(), c) != out.end()) continue;
      out.push_back(c);
    }
  }
  return out;
}

std::uint64_t MemberTable::digest() const {
  return MemberSetDigestFromSum(term_sum_, live_count());
}

}  // namespace shardmesh::mesh
