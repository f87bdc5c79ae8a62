// Membership: SWIM state transitions, after memberlist state.go (aliveNode, suspectNode,
// deadNode, refute, mergeState). The incarnation orders statements about a member: higher
// wins; at equal incarnation suspect beats alive and dead/left beat both. Only the member
// itself raises its incarnation, which is how it refutes.
#include <algorithm>

#include "membership_impl.h"

namespace shardmesh::mesh {

GossipUpdate MembershipImpl::UpdateOf(const MemberRecord& rec, const std::string& from) const {
  GossipUpdate u;
  u.state = rec.info.state;
  u.name = rec.info.name;
  u.endpoint = rec.info.endpoint;
  u.incarnation = rec.info.incarnation;
  u.from = from;
  return u;
}

void MembershipImpl::Broadcast(const GossipUpdate& u) {
  broadcasts_.Queue(u.name, EncodeGossipUpdate(u));
}

void MembershipImpl::Emit(MembershipEventKind kind, const MemberInfo& info,
                          std::string conflicting) {
  if (!handler_) return;
  MembershipEvent e;
  e.kind = kind;
  e.member = info;
  e.conflicting_endpoint = std::move(conflicting);
  handler_(e);
}

void MembershipImpl::AddToProbeOrder(const std::string& name) {
  // memberlist inserts new nodes at a random offset so they are probed within this round.
  // Appending and swapping with a random later slot is O(1) where an insert is O(n).
  const std::size_t lo = std::min(probe_index_, probe_order_.size());
  const std::size_t pos = lo + rng_.Uniform(probe_order_.size() - lo + 1);
  probe_order_.push_back(name);
  std::swap(probe_order_[pos], probe_order_.back());
}

std::vector<GossipUpdate> MembershipImpl::FullState() const {
  std::vector<GossipUpdate> out;
  out.reserve(table_.size());
  for (const auto& [name, rec] : table_.records()) out.push_back(UpdateOf(rec, {}));
  return out;
}

void MembershipImpl::ApplyUpdate(const GossipUpdate& u) {
  switch (u.state) {
    case MemberState::kAlive:
      AliveNode(u);
      break;
    case MemberState::kSuspect:
      SuspectNode(u);
      break;
    case MemberState::kDead:
      if (!TrustedAccuser(u.from)) {
        // A verdict its accuser may have reached while cut off from us (see TrustedAccuser):
        // only grounds for suspicion, so the member, if it runs, gets the chance to refute.
        GossipUpdate s = u;
        s.state = MemberState::kSuspect;
        SuspectNode(s);
        break;
      }
      DeadNode(u);
      break;
    case MemberState::kLeft:
      DeadNode(u);
      break;
  }
}

bool MembershipImpl::TrustedAccuser(const std::string& from) const {
  if (from == options_.name) return true;
  // An accuser we hold suspect, dead or not at all, or that has been alive in our view for
  // less than one (longest) suspicion timeout, may be a node healing from a partition: its
  // queued verdicts were formed while it heard nobody, about members alive all along at the
  // same incarnation (which a dead verdict would beat). memberlist's mergeState makes the
  // same downgrade for push-pull state.
  const MemberRecord* rec = table_.Find(from);
  if (rec == nullptr || rec->info.state != MemberState::kAlive) return false;
  const Duration window =
      SuspicionMinTimeout(options_.suspicion_mult, table_.live_count(),
                          std::chrono::duration_cast<Duration>(options_.probe_interval)) *
      options_.suspicion_max_timeout_mult;
  return clock_.Now() - rec->info.state_since >= window;
}

void MembershipImpl::MergeRemoteState(const std::string& sender,
                                      const std::vector<GossipUpdate>& state) {
  for (GossipUpdate u : state) {
    switch (u.state) {
      case MemberState::kAlive:
        // Only the sender's own entry is re-gossiped (a joiner announcing itself to its seed).
        // Third-party alive entries are news the sender already spreads, or old news; gossiping
        // them again from every node that syncs made a 1,000-node mass join cost O(n^2 log n)
        // piggybacked updates (memberlist re-gossips them). Suspect/dead/left still spread.
        u.from = u.name;
        AliveNode(u, /*rebroadcast=*/u.name == sender);
        break;
      case MemberState::kLeft:
        u.from = u.name;
        ApplyUpdate(u);
        break;
      case MemberState::kDead:
      case MemberState::kSuspect:
        // memberlist mergeState: a remote "dead" is only grounds for suspicion here, so a
        // member that is merely cut off from the sender gets the chance to refute.
        u.state = MemberState::kSuspect;
        u.from = sender;
        SuspectNode(u);
        break;
    }
  }
}

void MembershipImpl::ReportConflict(const MemberRecord& kept, const std::string& other_endpoint) {
  // Once per (name, endpoint) pair: the same claim keeps arriving by gossip.
  if (!reported_conflicts_.emplace(kept.info.name, other_endpoint).second) return;
  Emit(MembershipEventKind::kIdentityConflict, kept.info, other_endpoint);
}

void MembershipImpl::Refute(std::uint64_t seen_incarnation) {
  incarnation_ = std::max(incarnation_, seen_incarnation) + 1;
  ++stats_.refutations;
  // Lifeguard: having to refute means peers could not hear us in time; assume we are the
  // slow one and back off (memberlist refute(): awareness +1).
  awareness_.ApplyDelta(1);
  MemberRecord* self = table_.Find(options_.name);
  self->info.incarnation = incarnation_;
  Broadcast(UpdateOf(*self, options_.name));
}

void MembershipImpl::AliveNode(const GossipUpdate& u, bool rebroadcast) {
  const TimePoint now = clock_.Now();
  if (u.name == options_.name) {
    if (u.endpoint != endpoint_) {
      ReportConflict(*table_.Find(options_.name), u.endpoint);
      return;
    }
    // Gossip from before a restart may carry a higher incarnation than ours: raise above it,
    // or peers would keep ignoring our alive messages as stale.
    if (u.incarnation > incarnation_ && !left_) Refute(u.incarnation);
    return;
  }
  MemberRecord* rec = table_.Find(u.name);
  if (rec == nullptr) {
    MemberInfo info;
    info.name = u.name;
    info.endpoint = u.endpoint;
    info.state = MemberState::kAlive;
    info.incarnation = u.incarnation;
    info.last_heard = TimePoint{};
    info.state_since = now;
    MemberRecord& added = table_.Insert(std::move(info));
    AddToProbeOrder(u.name);
    if (rebroadcast) Broadcast(UpdateOf(added, u.name));
    Emit(MembershipEventKind::kJoin, added.info);
    return;
  }
  if (rec->info.endpoint != u.endpoint) {
    ReportConflict(*rec, u.endpoint);
    // The newcomer takes the name only from a member that is gone, and only with a newer
    // incarnation; a live member keeps its identity.
    const bool gone = !IsLive(rec->info.state);
    if (!gone || u.incarnation <= rec->info.incarnation) return;
    rec->info.endpoint = u.endpoint;
  } else if (u.incarnation <= rec->info.incarnation) {
    return;
  }
  const MemberState before = rec->info.state;
  rec->info.incarnation = u.incarnation;
  if (rec->suspicion) {
    suspicion_deadlines_.erase({rec->suspicion->Deadline(), rec->info.name});
    rec->suspicion.reset();
  }
  table_.SetState(*rec, MemberState::kAlive);
  if (before != MemberState::kAlive) rec->info.state_since = now;
  if (!IsLive(before)) AddToProbeOrder(rec->info.name);
  if (rebroadcast) Broadcast(UpdateOf(*rec, u.name));
  if (before != MemberState::kAlive) Emit(MembershipEventKind::kAlive, rec->info);
}

void MembershipImpl::SuspectNode(const GossipUpdate& u) {
  MemberRecord* rec = table_.Find(u.name);
  if (rec == nullptr || u.incarnation < rec->info.incarnation) return;
  if (u.name == options_.name) {
    if (!left_) Refute(u.incarnation);
    return;
  }
  if (!u.endpoint.empty() && u.endpoint != rec->info.endpoint) return;  // about another claimant
  if (rec->info.state == MemberState::kSuspect) {
    if (u.incarnation > rec->info.incarnation) rec->info.incarnation = u.incarnation;
    const TimePoint old_deadline = rec->suspicion->Deadline();
    if (rec->suspicion->Confirm(u.from)) {
      suspicion_deadlines_.erase({old_deadline, rec->info.name});
      suspicion_deadlines_.emplace(rec->suspicion->Deadline(), rec->info.name);
      // Re-gossip each new independent confirmation so others' timers shrink too.
      Broadcast(u);
    }
    return;
  }
  if (rec->info.state != MemberState::kAlive) return;  // dead or left already
  const TimePoint now = clock_.Now();
  // memberlist suspectNode(): k = suspicion_mult - 2 confirmations expected, none when the
  // mesh is too small to provide them; min from suspicionTimeout(), max = mult x min.
  const std::size_t n = table_.live_count();
  std::uint32_t k = options_.suspicion_mult >= 2 ? options_.suspicion_mult - 2 : 0;
  if (n < 2 || n - 2 < k) k = 0;
  const Duration min = SuspicionMinTimeout(
      options_.suspicion_mult, n, std::chrono::duration_cast<Duration>(options_.probe_interval));
  const Duration max = min * options_.suspicion_max_timeout_mult;
  rec->info.incarnation = u.incarnation;
  table_.SetState(*rec, MemberState::kSuspect);
  rec->info.state_since = now;
  rec->suspicion.emplace(u.from, k, min, max, now);
  suspicion_deadlines_.emplace(rec->suspicion->Deadline(), rec->info.name);
  GossipUpdate out = u;
  out.state = MemberState::kSuspect;
  out.endpoint = rec->info.endpoint;
  Broadcast(out);
  Emit(MembershipEventKind::kSuspect, rec->info);
}

void MembershipImpl::DeadNode(const GossipUpdate& u) {
  MemberRecord* rec = table_.Find(u.name);
  if (rec == nullptr || u.incarnation < rec->info.incarnation) return;
  if (u.name == options_.name) {
    // A dead verdict about a member still running is wrong: refute it (unless we did leave).
    if (!left_) Refute(u.incarnation);
    return;
  }
  if (!u.endpoint.empty() && u.endpoint != rec->info.endpoint) return;
  if (!IsLive(rec->info.state)) return;
  if (rec->suspicion) {
    suspicion_deadlines_.erase({rec->suspicion->Deadline(), rec->info.name});
    rec->suspicion.reset();
  }
  rec->info.incarnation = u.incarnation;
  table_.SetState(*rec, u.state);
  rec->info.state_since = clock_.Now();
  if (probe_.active && probe_.target == rec->info.name) probe_.active = false;
  GossipUpdate out = u;
  out.endpoint = rec->info.endpoint;
  Broadcast(out);
  Emit(u.state == MemberState::kLeft ? MembershipEventKind::kLeave : MembershipEventKind::kDead,
       rec->info);
}

void MembershipImpl::ExpireSuspicions(TimePoint now) {
  while (!suspicion_deadlines_.empty() && suspicion_deadlines_.begin()->first <= now) {
    const std::string name = suspicion_deadlines_.begin()->second;
    suspicion_deadlines_.erase(suspicion_deadlines_.begin());
    MemberRecord* rec = table_.Find(name);
    if (rec == nullptr || rec->info.state != MemberState::kSuspect) continue;
    rec->suspicion.reset();
    GossipUpdate u = UpdateOf(*rec, options_.name);
    u.state = MemberState::kDead;
    DeadNode(u);
  }
}

}  // namespace shardmesh::mesh
