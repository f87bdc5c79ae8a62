// Membership: probing, messages and timers. State transitions are in membership_state.cc.
// Formulas cite hashicorp/memberlist (state.go, util.go); differences are noted where made.
#include <algorithm>
#include <cmath>

#include "membership_impl.h"
#include "shardmesh/common/hash.h"

namespace shardmesh::mesh {
namespace {

// Helpers' relays outlive the origin's probe period by this factor, so a late ack is still
// relayed; after that the entry is dropped.
constexpr int kRelayLifetimePeriods = 3;
// Dead members are reclaimed (checked) at most this often.
constexpr auto kReclaimCheckInterval = std::chrono::seconds(1);
// Queued broadcasts beyond this are pruned oldest/most-sent first, bounding memory when a
// node is cut off while the mesh churns.
constexpr std::size_t kMaxQueuedBroadcasts = 8192;
// Minimum spacing of digest-triggered push-pulls, in probe periods.
constexpr int kDigestSyncPeriods = 5;

}  // namespace

std::string_view MemberStateName(MemberState state) {
  switch (state) {
    case MemberState::kAlive:
      return "alive";
    case MemberState::kSuspect:
      return "suspect";
    case MemberState::kDead:
      return "dead";
    case MemberState::kLeft:
      return "left";
  }
  return "unknown";
}

std::string_view MembershipEventKindName(MembershipEventKind kind) {
  switch (kind) {
    case MembershipEventKind::kJoin:
      return "join";
    case MembershipEventKind::kAlive:
      return "alive";
    case MembershipEventKind::kSuspect:
      return "suspect";
    case MembershipEventKind::kDead:
      return "dead";
    case MembershipEventKind::kLeave:
      return "leave";
    case MembershipEventKind::kIdentityConflict:
      return "identity_conflict";
  }
  return "unknown";
}

Result<std::unique_ptr<Membership>> Membership::Create(MeshOptions options, Transport& transport,
                                                       const Clock& clock) {
  SHARDMESH_RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<Membership>(new MembershipImpl(std::move(options), transport, clock));
}

MembershipImpl::MembershipImpl(MeshOptions options, Transport& transport, const Clock& clock)
    : options_(std::move(options)),
      transport_(transport),
      clock_(clock),
      endpoint_(options_.advertise.empty() ? transport.endpoint() : options_.advertise),
      table_(options_.name),
      awareness_(options_.awareness_max_multiplier),
      rng_(options_.random_seed != 0 ? options_.random_seed : Hash64(options_.name, 0x5eed)) {
  const TimePoint now = clock_.Now();
  MemberInfo self;
  self.name = options_.name;
  self.endpoint = endpoint_;
  self.state = MemberState::kAlive;
  self.last_heard = now;
  self.state_since = now;
  table_.Insert(std::move(self));
  // Random stagger, as memberlist does, so nodes started together do not probe in lockstep.
  const auto period = std::chrono::duration_cast<Duration>(options_.probe_interval);
  next_probe_at_ = now + Duration(rng_.Uniform(static_cast<std::uint64_t>(period.count())));
  next_push_pull_at_ = now + options_.push_pull_interval +
                       Duration(rng_.Uniform(static_cast<std::uint64_t>(period.count())));
  last_push_pull_at_ = next_push_pull_at_ - options_.push_pull_interval;
  next_seed_retry_at_ = now + options_.seed_retry_interval;
  next_gossip_at_ =
      now + options_.gossip_interval +
      Duration(rng_.Uniform(static_cast<std::uint64_t>(
          std::chrono::duration_cast<Duration>(options_.gossip_interval).count() + 1)));
  next_reclaim_at_ = now + kReclaimCheckInterval;
}

Status MembershipImpl::Join(std::vector<std::string> seed_endpoints) {
  if (left_) return Status::FailedPrecondition("member '" + options_.name + "' has left");
  seeds_.clear();
  seed_names_.clear();
  for (std::string& s : seed_endpoints) {
    if (s != endpoint_ && std::find(seeds_.begin(), seeds_.end(), s) == seeds_.end()) {
      seeds_.push_back(std::move(s));
    }
  }
  if (seeds_.empty()) return Status::OK();
  std::size_t sent = 0;
  Status last;
  for (const std::string& seed : seeds_) {
    GossipPayload p;
    p.flags = kGossipFlagJoin;
    p.digest = ViewDigest();
    p.updates = FullState();
    Status s = Send(seed, MessageType::kPushPullRequest, std::move(p), false);
    ++stats_.push_pulls;
    if (s.ok()) {
      ++sent;
    } else {
      last = s;
    }
  }
  if (sent == 0) {
    return Status::Unavailable("join: no seed reachable (last error: " + last.ToString() +
                               "); retrying every seed_retry_interval");
  }
  return Status::OK();
}

Status MembershipImpl::Send(const std::string& to_endpoint, MessageType type, GossipPayload payload,
                            bool piggyback) {
  std::vector<std::string> extra;
  if (piggyback) {
    const std::size_t overhead = GossipPayloadOverhead(payload);
    if (overhead < options_.max_piggyback_bytes) {
      // msgpack array header per update is inside each encoded update: no per-item overhead.
      extra =
          broadcasts_.GetBroadcasts(0, options_.max_piggyback_bytes - overhead,
                                    RetransmitLimit(options_.retransmit_mult, table_.live_count()));
    }
  }
  Envelope e;
  e.header.type = type;
  e.header.sender = options_.name;
  e.header.sender_endpoint = endpoint_;
  e.header.incarnation = incarnation_;
  e.payload = SharedBytes::FromString(EncodeGossipPayload(payload, extra));
  return transport_.Send(to_endpoint, e);
}

void MembershipImpl::Handle(const Envelope& envelope) {
  const EnvelopeHeader& h = envelope.header;
  switch (h.type) {
    case MessageType::kPing:
    case MessageType::kAck:
    case MessageType::kPingReq:
    case MessageType::kNack:
    case MessageType::kPushPullRequest:
    case MessageType::kPushPullResponse:
    case MessageType::kLeave:
      break;
    default:
      return;  // not membership traffic (status, blocks, user messages)
  }
  Result<GossipPayload> decoded = DecodeGossipPayload(envelope.payload.view());
  if (!decoded.ok()) {
    ++stats_.malformed;
    return;
  }
  const GossipPayload& p = *decoded;
  if (MemberRecord* rec = table_.Find(h.sender)) {
    if (rec->info.endpoint == h.sender_endpoint) {
      rec->info.last_heard = clock_.Now();
      // The header is the member speaking for itself, as its own alive broadcast would: a
      // higher incarnation there is a refutation we may not have received by gossip yet.
      if (h.incarnation > rec->info.incarnation && h.sender != options_.name &&
          h.type != MessageType::kLeave) {
        GossipUpdate u;
        u.state = MemberState::kAlive;
        u.name = h.sender;
        u.endpoint = h.sender_endpoint;
        u.incarnation = h.incarnation;
        u.from = h.sender;
        AliveNode(u);
      }
    }
  }
  switch (h.type) {
    case MessageType::kPushPullRequest:
      MergeRemoteState(h.sender, p.updates);
      RecordDigest(h.sender, p.digest);
      if (!left_) SendPushPull(h.sender_endpoint, MessageType::kPushPullResponse, false);
      return;
    case MessageType::kPushPullResponse:
      MergeRemoteState(h.sender, p.updates);
      RecordDigest(h.sender, p.digest);
      return;
    default:
      break;
  }
  // Piggybacked updates first, so a ping from a newcomer finds its alive entry applied.
  for (const GossipUpdate& u : p.updates) ApplyUpdate(u);
  switch (h.type) {
    case MessageType::kPing:
      HandlePing(envelope, p);
      break;
    case MessageType::kAck:
      HandleAck(envelope, p);
      break;
    case MessageType::kPingReq:
      HandlePingReq(envelope, p);
      break;
    case MessageType::kNack:
      if (probe_.active && p.seq == probe_.seq) ++probe_.nacks;
      break;
    default:
      break;
  }
}

void MembershipImpl::RecordDigest(const std::string& sender, std::uint64_t digest) {
  MemberRecord* rec = table_.Find(sender);
  if (rec == nullptr) return;
  rec->reported_digest = digest;
  rec->has_reported_digest = true;
  // Anti-entropy on evidence rather than only on the push-pull timer: a peer whose view
  // differs from ours while ours has been stable for two periods has missed gossip (or we
  // have), so sync full state with it now. At most one such sync per kDigestSyncPeriods
  // periods (x the push-pull scale, growing with log n) bounds the cost during churn.
  const TimePoint now = clock_.Now();
  const std::uint64_t mine = ViewDigest();
  if (mine != last_digest_) {
    last_digest_ = mine;
    digest_changed_at_ = now;
  }
  const Duration period = std::chrono::duration_cast<Duration>(options_.probe_interval);
  if (digest != mine && !left_ && IsLive(rec->info.state) &&
      now - digest_changed_at_ >= 2 * period && now >= next_digest_sync_at_) {
    next_digest_sync_at_ = now + kDigestSyncPeriods * period * PushPullScale();
    SendPushPull(rec->info.endpoint, MessageType::kPushPullRequest, false);
  }
}

void MembershipImpl::HandlePing(const Envelope& e, const GossipPayload& p) {
  // memberlist drops pings addressed to another name: the endpoint may now belong to a
  // different (restarted) node, and acking would vouch for the wrong member.
  if (!p.target.empty() && p.target != options_.name) return;
  RecordDigest(e.header.sender, p.digest);
  if (p.seq == kGossipOnlySeq) return;
  GossipPayload ack;
  ack.seq = p.seq;
  ack.digest = ViewDigest();
  (void)Send(e.header.sender_endpoint, MessageType::kAck, std::move(ack), true);
}

void MembershipImpl::HandleAck(const Envelope& e, const GossipPayload& p) {
  if (auto it = relays_.find(p.seq); it != relays_.end()) {
    // We pinged on someone's behalf: relay the ack under their sequence number.
    GossipPayload relay;
    relay.seq = it->second.origin_seq;
    relay.digest = ViewDigest();
    (void)Send(it->second.origin_endpoint, MessageType::kAck, std::move(relay), true);
    relays_.erase(it);
    RecordDigest(e.header.sender, p.digest);
    return;
  }
  if (probe_.active && !probe_.acked && p.seq == probe_.seq) {
    probe_.acked = true;
    // Lifeguard: a timely ack is evidence of our own health (memberlist awarenessDelta -1).
    awareness_.ApplyDelta(-1);
  }
  // A relayed ack comes from the helper and carries the helper's digest.
  RecordDigest(e.header.sender, p.digest);
}

void MembershipImpl::HandlePingReq(const Envelope& e, const GossipPayload& p) {
  if (p.target.empty() || p.target_endpoint.empty() || p.target == options_.name) return;
  const TimePoint now = clock_.Now();
  const std::uint64_t seq = next_seq_++;
  Relay relay;
  relay.origin_endpoint = e.header.sender_endpoint;
  relay.origin_seq = p.seq;
  if (p.nack_after_us > 0) {
    relay.nack_at = now + std::chrono::microseconds(
                              std::min<std::uint64_t>(p.nack_after_us, 3600ull * 1000000));
  }
  relay.expires =
      now + std::chrono::duration_cast<Duration>(options_.probe_interval) * kRelayLifetimePeriods;
  relays_[seq] = std::move(relay);
  GossipPayload ping;
  ping.seq = seq;
  ping.target = p.target;
  ping.digest = ViewDigest();
  (void)Send(p.target_endpoint, MessageType::kPing, std::move(ping), true);
}

void MembershipImpl::Tick() {
  const TimePoint now = clock_.Now();
  RunRelays(now);
  ExpireSuspicions(now);
  if (left_) return;
  if (probe_.active && !probe_.acked && !probe_.indirect_sent && now >= probe_.indirect_at) {
    SendIndirectProbes(now);
  }
  if (probe_.active && now >= probe_.end) FinishProbe();
  if (!probe_.active && now >= next_probe_at_) StartProbe(now);
  if (options_.gossip_interval.count() > 0 && now >= next_gossip_at_) {
    next_gossip_at_ = now + options_.gossip_interval;
    Gossip();
  }
  // The deadline was set when the mesh may have been smaller: re-scale it before firing.
  if (options_.push_pull_interval.count() > 0 && now >= next_push_pull_at_) {
    const TimePoint due = last_push_pull_at_ + PushPullInterval();
    if (now < due) {
      next_push_pull_at_ = due;
    } else {
      last_push_pull_at_ = now;
      next_push_pull_at_ = now + PushPullInterval();
      std::vector<std::string> peer = table_.RandomLivePeers(1, options_.name, rng_);
      if (!peer.empty()) {
        if (const MemberRecord* rec = table_.Find(peer[0])) {
          SendPushPull(rec->info.endpoint, MessageType::kPushPullRequest, false);
        }
      }
    }
  }
  if (now >= next_seed_retry_at_) {
    next_seed_retry_at_ = now + options_.seed_retry_interval;
    RetrySeedsAndDead();
  }
  if (now >= next_reclaim_at_) {
    next_reclaim_at_ = now + kReclaimCheckInterval;
    ReclaimDead(now);
  }
}

TimePoint MembershipImpl::NextDeadline() const {
  TimePoint t = TimePoint::max();
  for (const auto& [seq, relay] : relays_) t = std::min({t, relay.nack_at, relay.expires});
  if (!suspicion_deadlines_.empty()) t = std::min(t, suspicion_deadlines_.begin()->first);
  if (left_) return t;
  if (probe_.active) {
    if (!probe_.acked && !probe_.indirect_sent) t = std::min(t, probe_.indirect_at);
    t = std::min(t, probe_.end);
  } else {
    t = std::min(t, next_probe_at_);
  }
  if (options_.push_pull_interval.count() > 0) t = std::min(t, next_push_pull_at_);
  if (options_.gossip_interval.count() > 0) t = std::min(t, next_gossip_at_);
  return std::min({t, next_seed_retry_at_, next_reclaim_at_});
}

void MembershipImpl::StartProbe(TimePoint now) {
  const Duration interval =
      awareness_.ScaleTimeout(std::chrono::duration_cast<Duration>(options_.probe_interval));
  next_probe_at_ = now + interval;
  // Randomized round robin (memberlist probe()): walk a shuffled list of members; at its end
  // reshuffle the current live peers. New members are inserted at a random later position.
  const MemberRecord* target = nullptr;
  for (std::size_t scanned = 0; target == nullptr; ++scanned) {
    if (probe_index_ >= probe_order_.size()) {
      if (scanned > 0 || table_.live_peers().empty()) return;
      probe_order_ = table_.live_peers();
      Shuffle(std::span<std::string>(probe_order_), rng_);
      probe_index_ = 0;
    }
    const MemberRecord* rec = table_.Find(probe_order_[probe_index_++]);
    if (rec != nullptr && IsLive(rec->info.state) && rec->info.name != options_.name) {
      target = rec;
    }
  }
  probe_ = Probe();
  probe_.active = true;
  probe_.seq = next_seq_++;
  probe_.target = target->info.name;
  probe_.target_endpoint = target->info.endpoint;
  probe_.indirect_at =
      now + awareness_.ScaleTimeout(std::chrono::duration_cast<Duration>(options_.probe_timeout));
  probe_.end = now + interval;
  ++stats_.probes;
  GossipPayload ping;
  ping.seq = probe_.seq;
  ping.target = probe_.target;
  ping.digest = ViewDigest();
  if (target->info.state == MemberState::kSuspect) {
    // memberlist probeNode(): tell a suspect it is suspected, so it can refute even if the
    // gossip never happened to pick it (its retransmit budget is spent on the others).
    GossipUpdate u = UpdateOf(*target, options_.name);
    ping.updates.push_back(std::move(u));
  }
  Status s = Send(probe_.target_endpoint, MessageType::kPing, std::move(ping), true);
  // A send that fails locally (peer queue full, unreachable) is a missed ack: fall through to
  // the indirect probe at indirect_at rather than retrying now.
  (void)s;
}

void MembershipImpl::SendIndirectProbes(TimePoint now) {
  probe_.indirect_sent = true;
  std::vector<std::string> helpers =
      table_.RandomLivePeers(options_.indirect_checks + 1, options_.name, rng_);
  helpers.erase(std::remove(helpers.begin(), helpers.end(), probe_.target), helpers.end());
  if (helpers.size() > options_.indirect_checks) helpers.resize(options_.indirect_checks);
  // Helpers nack after 3/5 of the time left in the period, so the nack is back before it ends
  // (memberlist nacks after probe_timeout, which with interval = 2 x timeout arrives just as
  // the period closes and is often counted as missing).
  const Duration left = probe_.end - now;
  const auto nack_after =
      std::chrono::duration_cast<std::chrono::microseconds>(left * 3 / 5).count();
  for (const std::string& name : helpers) {
    const MemberRecord* rec = table_.Find(name);
    if (rec == nullptr) continue;
    GossipPayload req;
    req.seq = probe_.seq;
    req.target = probe_.target;
    req.target_endpoint = probe_.target_endpoint;
    req.nack_after_us = static_cast<std::uint64_t>(std::max<std::int64_t>(nack_after, 1));
    if (Send(rec->info.endpoint, MessageType::kPingReq, std::move(req), true).ok()) {
      ++probe_.expected_nacks;
      ++stats_.indirect_probes;
    }
  }
}

void MembershipImpl::FinishProbe() {
  probe_.active = false;
  if (probe_.acked) return;
  ++stats_.probes_failed;
  // Lifeguard (memberlist probeNode): with nack-capable helpers, each missing nack says our
  // own messages are not getting through; without helpers, any failed probe counts once.
  if (probe_.expected_nacks > 0) {
    if (probe_.nacks < probe_.expected_nacks) {
      awareness_.ApplyDelta(static_cast<int>(probe_.expected_nacks - probe_.nacks));
    }
  } else {
    awareness_.ApplyDelta(1);
  }
  const MemberRecord* rec = table_.Find(probe_.target);
  if (rec == nullptr || rec->info.endpoint != probe_.target_endpoint) return;
  GossipUpdate u = UpdateOf(*rec, options_.name);
  u.state = MemberState::kSuspect;
  SuspectNode(u);
}

void MembershipImpl::Gossip() {
  if (broadcasts_.empty()) return;
  // memberlist gossip(): a few random members per interval, each message filled from the
  // queue (every send counts against the updates' retransmit limits).
  for (const std::string& peer :
       table_.RandomLivePeers(options_.gossip_nodes, options_.name, rng_)) {
    if (broadcasts_.empty()) break;
    const MemberRecord* rec = table_.Find(peer);
    if (rec == nullptr) continue;
    GossipPayload p;
    p.seq = kGossipOnlySeq;
    p.target = peer;
    p.digest = ViewDigest();
    (void)Send(rec->info.endpoint, MessageType::kPing, std::move(p), true);
  }
}

void MembershipImpl::RunRelays(TimePoint now) {
  for (auto it = relays_.begin(); it != relays_.end();) {
    Relay& r = it->second;
    if (now >= r.nack_at) {
      GossipPayload nack;
      nack.seq = r.origin_seq;
      (void)Send(r.origin_endpoint, MessageType::kNack, std::move(nack), true);
      r.nack_at = TimePoint::max();
    }
    if (now >= r.expires) {
      it = relays_.erase(it);
    } else {
      ++it;
    }
  }
}

std::int64_t MembershipImpl::PushPullScale() const {
  // memberlist pushPullScale(): beyond 32 nodes, stretch by ceil(log2(n) - log2(32)) + 1 so
  // the full-state traffic (O(n) per exchange) grows like n log n rather than n^2.
  const std::size_t n = table_.live_count();
  if (n <= 32) return 1;
  return static_cast<std::int64_t>(std::ceil(std::log2(static_cast<double>(n)) - std::log2(32.0)) +
                                   1.0);
}

Duration MembershipImpl::PushPullInterval() const {
  return std::chrono::duration_cast<Duration>(options_.push_pull_interval) * PushPullScale();
}

void MembershipImpl::SendPushPull(const std::string& to_endpoint, MessageType type, bool join) {
  GossipPayload p;
  p.flags = join ? kGossipFlagJoin : 0;
  p.digest = ViewDigest();
  p.updates = FullState();
  if (type == MessageType::kPushPullRequest) ++stats_.push_pulls;
  (void)Send(to_endpoint, type, std::move(p), false);
}

void MembershipImpl::RetrySeedsAndDead() {
  if (seed_names_.size() != seeds_.size()) seed_names_.assign(seeds_.size(), std::string());
  for (std::size_t i = 0; i < seeds_.size(); ++i) {
    // Which member a seed endpoint belongs to is found by one scan and then remembered, so a
    // 1,000-node mesh does not scan its table per seed every retry interval.
    const MemberRecord* rec = seed_names_[i].empty() ? nullptr : table_.Find(seed_names_[i]);
    if (rec == nullptr || rec->info.endpoint != seeds_[i]) {
      rec = nullptr;
      for (const auto& [name, r] : table_.records()) {
        if (r.info.endpoint == seeds_[i] && name != options_.name) {
          seed_names_[i] = name;
          rec = &r;
          break;
        }
      }
    }
    if (rec == nullptr || !IsLive(rec->info.state)) {
      SendPushPull(seeds_[i], MessageType::kPushPullRequest, true);
    }
  }
  // One random dead member per round: after a partition heals, each side holds the other
  // dead, and this is how they find each other again without any seed in between.
  if (table_.size() == table_.live_count() + (left_ ? 1 : 0)) return;  // nobody dead or left
  std::vector<const MemberRecord*> dead;
  for (const auto& [name, rec] : table_.records()) {
    if (rec.info.state == MemberState::kDead) dead.push_back(&rec);
  }
  if (!dead.empty()) {
    std::sort(dead.begin(), dead.end(), [](const MemberRecord* a, const MemberRecord* b) {
      return a->info.name < b->info.name;  // unordered_map order is not deterministic
    });
    SendPushPull(dead[rng_.Uniform(dead.size())]->info.endpoint, MessageType::kPushPullRequest,
                 false);
  }
}

void MembershipImpl::ReclaimDead(TimePoint now) {
  std::vector<std::string> reclaim;
  for (const auto& [name, rec] : table_.records()) {
    if (!IsLive(rec.info.state) && name != options_.name &&
        now - rec.info.state_since >= options_.dead_reclaim_time) {
      reclaim.push_back(name);
    }
  }
  for (const std::string& name : reclaim) table_.Erase(name);
  broadcasts_.Prune(kMaxQueuedBroadcasts);
}

Status MembershipImpl::Leave() {
  if (left_) return Status::FailedPrecondition("member '" + options_.name + "' already left");
  left_ = true;
  MemberRecord* self = table_.Find(options_.name);
  table_.SetState(*self, MemberState::kLeft);
  self->info.state_since = clock_.Now();
  GossipUpdate u = UpdateOf(*self, options_.name);
  Broadcast(u);
  // Gossip alone needs O(log n) periods to reach everyone; telling each live member directly
  // makes the leave visible within one network delay (cost: n - 1 small messages, once).
  for (const std::string& peer : table_.live_peers()) {
    const MemberRecord* rec = table_.Find(peer);
    if (rec == nullptr) continue;
    GossipPayload p;
    p.updates.push_back(u);
    (void)Send(rec->info.endpoint, MessageType::kLeave, std::move(p), false);
  }
  probe_.active = false;
  return Status::OK();
}

std::vector<MemberInfo> MembershipImpl::Members() const {
  std::vector<MemberInfo> out;
  out.reserve(table_.size());
  for (const auto& [name, rec] : table_.records()) out.push_back(rec.info);
  std::sort(out.begin(), out.end(),
            [](const MemberInfo& a, const MemberInfo& b) { return a.name < b.name; });
  return out;
}

std::optional<MemberInfo> MembershipImpl::Member(const std::string& name) const {
  const MemberRecord* rec = table_.Find(name);
  if (rec == nullptr) return std::nullopt;
  return rec->info;
}

std::vector<std::string> MembershipImpl::LiveMembers() const {
  std::vector<std::string> out = table_.live_peers();
  if (!left_) out.push_back(options_.name);
  std::sort(out.begin(), out.end());
  return out;
}

bool MembershipImpl::Agreed() const {
  const std::uint64_t mine = ViewDigest();
  for (const std::string& peer : table_.live_peers()) {
    const MemberRecord* rec = table_.Find(peer);
    if (rec == nullptr || !rec->has_reported_digest || rec->reported_digest != mine) return false;
  }
  return true;
}

}  // namespace shardmesh::mesh
