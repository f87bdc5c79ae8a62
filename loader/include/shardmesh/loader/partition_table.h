// PartitionTable: who delivers each canonical partition of one mesh-mode epoch, and how far it
// has got (issue 4 item 3, issue 5 items 3-6). Every worker keeps one and they converge by
// exchanging entries (progress messages); no coordinator.
//
// Ownership. At the start of the epoch every worker computes, from the same inputs (the epoch's
// member set M0 and the strategy), a preference list pref(p) over M0 for every partition p:
// pref(p)[0] is the initial owner. An entry's `term` is an index into pref(p): the owner is
// pref(p)[term]. Only a dead owner's partitions move: the first member of pref(p) after the
// current term that is not known dead takes over, and only that member itself advances the
// term (TakeOver), then tells everyone. Terms only grow, so two claims are ordered: an owner
// that sees a higher term for its partition stops delivering it (a paused worker that was
// declared dead and comes back).
//
// Handover. Members that join mid-epoch are not in M0, so no preference list names them. The
// owner of a partition may hand it over to such a guest at one of its own commits (HandOver):
// the term jumps by kHandoverStride, beyond any term a takeover from a lower term can reach, and
// a handover record (partition, term, guest) names the owner of that term; records travel with
// the entries, so every worker computes the same owner. The guest resumes at the handed-over
// cursor, which is the old owner's commit: nothing is delivered twice. If the guest dies,
// TakeOver continues through pref(p) from the handover term as from any other.
//
// Progress. `cursor` counts the samples of the partition (in its own epoch order) delivered
// and committed; a partition is done when cursor == its size. Merge keeps, per partition, the
// entry with the highest (term, cursor); a lower term may still raise the cursor of a
// partition its new owner has not started yet (a late commit of the previous owner), so a
// takeover resumes from the last commit anyone heard of. A done partition stays done whatever
// term reports it (after a network partition heals, both sides' claims meet).
//
// Thread-safety: none; the mesh loader guards it with its own lock.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shardmesh/common/status.h"

namespace shardmesh::loader {

struct PartitionEntry {
  std::uint32_t partition = 0;
  std::uint32_t term = 0;
  std::uint64_t cursor = 0;
  friend bool operator==(const PartitionEntry&, const PartitionEntry&) = default;
};

// The owner of `partition` at `term` is `to`, a member outside M0 (see "Handover" above).
struct Handover {
  std::uint32_t partition = 0;
  std::uint32_t term = 0;
  std::string to;
  friend bool operator==(const Handover&, const Handover&) = default;
};

class PartitionTable {
 public:
  // A handover raises the term by this much: more than any run of takeovers (each at most
  // one round of pref, at most 65,535 members) reaches, so a handover term never collides
  // with a takeover's.
  static constexpr std::uint32_t kHandoverStride = 1u << 20;
  // Handover records kept per partition; later ones are refused (a partition handed over this
  // often in one epoch stays with its last recorded owner).
  static constexpr std::size_t kMaxHandoversPerPartition = 64;

  // `members` is M0 (sorted names), `pref[p]` a permutation of member indices for partition p,
  // `sizes[p]` the number of samples of partition p this epoch.
  PartitionTable(std::uint64_t epoch, std::vector<std::string> members,
                 std::vector<std::vector<std::uint16_t>> pref, std::vector<std::uint64_t> sizes);
  PartitionTable() = default;

  std::uint64_t epoch() const { return epoch_; }
  std::uint32_t partitions() const { return static_cast<std::uint32_t>(entries_.size()); }
  const std::vector<std::string>& members() const { return members_; }
  std::uint64_t members_digest() const { return members_digest_; }
  const PartitionEntry& entry(std::uint32_t p) const { return entries_[p]; }
  std::uint64_t size(std::uint32_t p) const { return sizes_[p]; }
  bool done(std::uint32_t p) const { return entries_[p].cursor >= sizes_[p]; }
  // Owner of p now: the guest of a handover record for p's term, else pref(p)[term].
  const std::string& Owner(std::uint32_t p) const;
  // True when every partition is done: the epoch is over for everyone.
  bool AllDone() const;
  // Samples not yet delivered over all partitions.
  std::uint64_t Remaining() const;

  // Takes `e` into account (see the header comment). Returns true when the table changed.
  // Entries for unknown partitions or terms beyond pref are ignored (false). Merge a message's
  // handover records (MergeHandover) before its entries.
  bool Merge(const PartitionEntry& e);
  // Records that `h.to` owns h.partition at h.term. Returns true when the record is new.
  // Ignored (false): unknown partition, empty or M0 name, a term below kHandoverStride, a
  // second name for the same term, or more than kMaxHandoversPerPartition records for it.
  bool MergeHandover(const Handover& h);
  // The owner of p hands it over to `guest` (not in M0) at its cursor now: p's term rises by
  // kHandoverStride and a record names the guest. False (nothing changed) when p is done or
  // the term would overflow.
  bool HandOver(std::uint32_t p, std::string_view guest);
  // Every handover record (for progress messages).
  std::vector<Handover> Handovers() const;
  // Whether `name` owns or owned some partition through a handover this epoch.
  bool IsGuest(std::string_view name) const;
  // Whether p's current term was reached by a handover.
  bool HandedOver(std::uint32_t p) const;
  // Records local progress of an owned partition (cursor only grows).
  void Advance(std::uint32_t p, std::uint64_t cursor);
  // Marks p as started by its current owner here (later lower-term cursors are ignored).
  void MarkStarted(std::uint32_t p) { started_[p] = 1; }

  // For every partition not done whose owner is in `dead`: the next owner is the first member
  // of pref(p) after the current term that is not in `dead`. Returns the partitions for which
  // that member is `self`, with their term advanced here (the caller starts them and tells
  // the others); partitions whose next owner is someone else are left to that member.
  std::vector<std::uint32_t> TakeOver(const std::set<std::string>& dead, std::string_view self);

  // Grows whenever some partition's term, hence its owner, changes (Merge, TakeOver): a reader
  // that saw the same value has nothing to re-check.
  std::uint64_t terms_version() const { return terms_version_; }

  // Partitions `member` owns now and has not finished.
  std::vector<std::uint32_t> OwnedBy(std::string_view member) const;
  // Every entry (for anti-entropy) or only those of the given partitions.
  std::vector<PartitionEntry> Entries() const { return entries_; }

 private:
  std::uint64_t epoch_ = 0;
  std::vector<std::string> members_;
  std::uint64_t members_digest_ = 0;
  std::vector<std::vector<std::uint16_t>> pref_;
  std::vector<std::uint64_t> sizes_;
  std::vector<PartitionEntry> entries_;
  std::vector<std::uint8_t> started_;
  std::uint64_t terms_version_ = 0;
  // (partition, term) -> guest owning that term.
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::string> handovers_;
};

}  // namespace shardmesh::loader
