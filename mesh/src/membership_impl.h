// MembershipImpl: the Membership state machine (see membership.h). Split over two files:
// membership.cc (probing, messages, timers) and membership_state.cc (the SWIM state
// transitions: alive, suspect, dead, left, refutation, push-pull merge).
//
// Not thread-safe.
#pragma once

#include <map>
#include <set>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "awareness.h"
#include "broadcast_queue.h"
#include "gossip_codec.h"
#include "member_table.h"
#include "shardmesh/common/random.h"
#include "shardmesh/mesh/membership.h"

namespace shardmesh::mesh {

class MembershipImpl final : public Membership {
 public:
  MembershipImpl(MeshOptions options, Transport& transport, const Clock& clock);

  Status Join(std::vector<std::string> seed_endpoints) override;
  void Handle(const Envelope& envelope) override;
  void Tick() override;
  TimePoint NextDeadline() const override;
  Status Leave() override;
  std::vector<MemberInfo> Members() const override;
  std::optional<MemberInfo> Member(const std::string& name) const override;
  std::vector<std::string> LiveMembers() const override;
  std::size_t live_count() const override { return table_.live_count(); }
  const std::string& name() const override { return options_.name; }
  const std::string& endpoint() const override { return endpoint_; }
  std::uint64_t incarnation() const override { return incarnation_; }
  int health_score() const override { return awareness_.score(); }
  MembershipStats stats() const override { return stats_; }
  void SetEventHandler(std::function<void(const MembershipEvent&)> handler) override {
    handler_ = std::move(handler);
  }
  std::uint64_t ViewDigest() const override { return table_.digest(); }
  bool Agreed() const override;

 private:
  // The probe in progress (at most one per period, as in memberlist).
  struct Probe {
    bool active = false;
    bool acked = false;
    bool indirect_sent = false;
    std::uint64_t seq = 0;
    std::string target;
    std::string target_endpoint;
    TimePoint indirect_at{};  // send ping-reqs if no ack by then
    TimePoint end{};          // suspect if no ack by then
    std::uint32_t expected_nacks = 0;
    std::uint32_t nacks = 0;
  };
  // A ping we send on behalf of a ping-req: relay the ack, or nack when it is late.
  struct Relay {
    std::string origin_endpoint;
    std::uint64_t origin_seq = 0;
    TimePoint nack_at = TimePoint::max();
    TimePoint expires{};
  };

  // membership.cc
  void StartProbe(TimePoint now);
  void SendIndirectProbes(TimePoint now);
  void FinishProbe();
  void RunRelays(TimePoint now);
  void Gossip();
  void SendPushPull(const std::string& to_endpoint, MessageType type, bool join);
  void RetrySeedsAndDead();
  void ReclaimDead(TimePoint now);
  Status Send(const std::string& to_endpoint, MessageType type, GossipPayload payload,
              bool piggyback);
  void HandlePing(const Envelope& e, const GossipPayload& p);
  void HandleAck(const Envelope& e, const GossipPayload& p);
  void HandlePingReq(const Envelope& e, const GossipPayload& p);
  void RecordDigest(const std::string& sender, std::uint64_t digest);
  std::int64_t PushPullScale() const;
  Duration PushPullInterval() const;

  // membership_state.cc
  void ApplyUpdate(const GossipUpdate& u);
  // Whether a dead verdict gossiped by `from` is trusted as such (else: only a suspicion).
  bool TrustedAccuser(const std::string& from) const;
  void MergeRemoteState(const std::string& sender, const std::vector<GossipUpdate>& state);
  // `rebroadcast` false: apply without re-gossiping (third-party entries of a push-pull).
  void AliveNode(const GossipUpdate& u, bool rebroadcast = true);
  void SuspectNode(const GossipUpdate& u);
  void DeadNode(const GossipUpdate& u);  // u.state kDead or kLeft
  void Refute(std::uint64_t seen_incarnation);
  void ExpireSuspicions(TimePoint now);
  void ReportConflict(const MemberRecord& kept, const std::string& other_endpoint);
  void Broadcast(const GossipUpdate& u);
  GossipUpdate UpdateOf(const MemberRecord& rec, const std::string& from) const;
  void Emit(MembershipEventKind kind, const MemberInfo& info, std::string conflicting = {});
  void AddToProbeOrder(const std::string& name);
  std::vector<GossipUpdate> FullState() const;

  MeshOptions options_;
  Transport& transport_;
  const Clock& clock_;
  std::string endpoint_;
  std::uint64_t incarnation_ = 0;
  bool left_ = false;
  MemberTable table_;
  BroadcastQueue broadcasts_;
  Awareness awareness_;
  Rng rng_;
  MembershipStats stats_;
  std::function<void(const MembershipEvent&)> handler_;

  Probe probe_;
  std::uint64_t next_seq_ = 1;
  TimePoint next_probe_at_{};
  std::vector<std::string> probe_order_;
  std::size_t probe_index_ = 0;
  std::map<std::uint64_t, Relay> relays_;

  std::vector<std::string> seeds_;
  std::vector<std::string> seed_names_;  // member name behind each seed endpoint, once known
  TimePoint next_push_pull_at_{};
  TimePoint last_push_pull_at_{};
  TimePoint next_gossip_at_{};
  // Digest-triggered anti-entropy (see RecordDigest).
  std::uint64_t last_digest_ = 0;
  TimePoint digest_changed_at_{};
  TimePoint next_digest_sync_at_{};
  TimePoint next_seed_retry_at_{};
  TimePoint next_reclaim_at_{};
  // (deadline, name) of every running suspicion: the next timeout without a scan.
  std::set<std::pair<TimePoint, std::string>> suspicion_deadlines_;
  std::set<std::pair<std::string, std::string>> reported_conflicts_;  // (name, endpoint)
};

}  // namespace shardmesh::mesh
