#include "shardmesh/loader/partition_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "shardmesh/mesh/ring.h"

namespace shardmesh::loader {

PartitionTable::PartitionTable(std::uint64_t epoch, std::vector<std::string> members,
                               std::vector<std::vector<std::uint16_t>> pref,
                               std::vector<std::uint64_t> sizes)
    : epoch_(epoch),
      members_(std::move(members)),
      members_digest_(mesh::MemberSetDigest(members_)),
      pref_(std::move(pref)),
      sizes_(std::move(sizes)) {
  entries_.resize(sizes_.size());
  for (std::uint32_t p = 0; p < entries_.size(); ++p) entries_[p].partition = p;
  started_.assign(sizes_.size(), 0);
}

const std::string& PartitionTable::Owner(std::uint32_t p) const {
  if (!handovers_.empty()) {
    const auto it = handovers_.find({p, entries_[p].term});
    if (it != handovers_.end()) return it->second;
  }
  const auto& list = pref_[p];
  return members_[list[entries_[p].term % list.size()]];
}

bool PartitionTable::AllDone() const {
  for (std::uint32_t p = 0; p < entries_.size(); ++p)
    if (!done(p)) return false;
  return true;
}

std::uint64_t PartitionTable::Remaining() const {
  std::uint64_t n = 0;
  for (std::uint32_t p = 0; p < entries_.size(); ++p)
    if (!done(p)) n += sizes_[p] - entries_[p].cursor;
  return n;
}

bool PartitionTable::Merge(const PartitionEntry& e) {
  if (e.partition >= entries_.size()) return false;
  PartitionEntry& cur = entries_[e.partition];
  // A term more than one full round of pref beyond ours, or beyond the last handover up to
  // it, cannot come from a sane peer.
  std::uint64_t base = cur.term;
  if (auto it = handovers_.upper_bound({e.partition, e.term}); it != handovers_.begin()) {
    --it;
    if (it->first.first == e.partition) base = std::max<std::uint64_t>(base, it->first.second);
  }
  if (e.term >= 2 * pref_[e.partition].size() + base + 1) return false;
  const std::uint64_t cursor = std::min(e.cursor, sizes_[e.partition]);
  // Done is absorbing whatever the term: whoever finished the partition delivered all of it.
  if (cursor == sizes_[e.partition] && cur.cursor < cursor) {
    cur.cursor = cursor;
    if (e.term > cur.term) {
      cur.term = e.term;
      ++terms_version_;
    }
    return true;
  }
  if (e.term > cur.term) {
    cur.term = e.term;
    ++terms_version_;
    cur.cursor = std::max(cur.cursor, cursor);
    started_[e.partition] = 0;
    return true;
  }
  if (e.term == cur.term || !started_[e.partition]) {
    if (cursor > cur.cursor) {
      cur.cursor = cursor;
      return true;
    }
  }
  return false;
}

void PartitionTable::Advance(std::uint32_t p, std::uint64_t cursor) {
  entries_[p].cursor = std::max(entries_[p].cursor, std::min(cursor, sizes_[p]));
}

bool PartitionTable::MergeHandover(const Handover& h) {
  if (h.partition >= entries_.size() || h.to.empty() || h.term < kHandoverStride ||
      std::binary_search(members_.begin(), members_.end(), h.to)) {
    return false;
  }
  // A partition's records are made one after another by its successive owners and travel
  // together, so every table sees them in the same order: a per-partition cap (not a global
  // one, which would depend on the order other partitions' records arrive in) keeps the
  // tables agreeing.
  const auto first = handovers_.lower_bound({h.partition, 0});
  const auto last = handovers_.lower_bound({h.partition + 1, 0});
  if (static_cast<std::size_t>(std::distance(first, last)) >= kMaxHandoversPerPartition &&
      !handovers_.count({h.partition, h.term})) {
    return false;
  }
  const auto [it, fresh] = handovers_.try_emplace({h.partition, h.term}, h.to);
  if (fresh && h.term == entries_[h.partition].term) ++terms_version_;
  return fresh;
}

bool PartitionTable::HandOver(std::uint32_t p, std::string_view guest) {
  if (p >= entries_.size() || done(p) || guest.empty() ||
      entries_[p].term > UINT32_MAX - kHandoverStride) {
    return false;
  }
  const std::uint32_t term = entries_[p].term + kHandoverStride;
  if (!MergeHandover({p, term, std::string(guest)})) return false;
  entries_[p].term = term;
  started_[p] = 0;
  ++terms_version_;
  return true;
}

std::vector<Handover> PartitionTable::Handovers() const {
  std::vector<Handover> out;
  out.reserve(handovers_.size());
  for (const auto& [key, to] : handovers_) out.push_back({key.first, key.second, to});
  return out;
}

bool PartitionTable::IsGuest(std::string_view name) const {
  for (const auto& [key, to] : handovers_)
    if (to == name) return true;
  return false;
}

bool PartitionTable::HandedOver(std::uint32_t p) const {
  return handovers_.count({p, entries_[p].term}) > 0;
}

std::vector<std::uint32_t> PartitionTable::TakeOver(const std::set<std::string>& dead,
                                                    std::string_view self) {
  std::vector<std::uint32_t> mine;
  for (std::uint32_t p = 0; p < entries_.size(); ++p) {
    if (done(p) || !dead.count(Owner(p))) continue;
    const auto& list = pref_[p];
    for (std::uint32_t step = 1; step <= list.size(); ++step) {
      const std::uint32_t term = entries_[p].term + step;
      if (handovers_.count({p, term})) continue;  // a guest's term, not pref's
      const std::string& candidate = members_[list[term % list.size()]];
      if (dead.count(candidate)) continue;
      if (candidate == self) {
        entries_[p].term = term;
        ++terms_version_;
        started_[p] = 0;
        mine.push_back(p);
      }
      break;
    }
  }
  return mine;
}

std::vector<std::uint32_t> PartitionTable::OwnedBy(std::string_view member) const {
  std::vector<std::uint32_t> out;
  for (std::uint32_t p = 0; p < entries_.size(); ++p)
    if (!done(p) && Owner(p) == member) out.push_back(p);
  return out;
}

}  // namespace shardmesh::loader
