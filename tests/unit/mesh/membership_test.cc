// One Membership node driven by hand-made envelopes through a recording transport: the
// message-level rules (acks, ping-req relays, nacks, incarnation ordering, refutation).
#include "shardmesh/mesh/membership.h"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include "gossip_codec.h"

namespace shardmesh::mesh {
namespace {

using std::chrono::milliseconds;

class RecordingTransport final : public Transport {
 public:
  struct Sent {
    std::string to;
    Envelope envelope;
    GossipPayload payload;
  };
  explicit RecordingTransport(std::string endpoint) : endpoint_(std::move(endpoint)) {}
  const std::string& endpoint() const override { return endpoint_; }
  Status Send(const std::string& to, const Envelope& e) override {
    Result<GossipPayload> p = DecodeGossipPayload(e.payload.view());
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    sent.push_back({to, e, p.ok() ? *p : GossipPayload()});
    return Status::OK();
  }
  std::optional<Envelope> Receive(Duration) override { return std::nullopt; }
  // Sent messages of `type`, oldest first.
  std::vector<Sent> Of(MessageType type) const {
    std::vector<Sent> out;
    for (const Sent& s : sent) {
      if (s.envelope.header.type == type) out.push_back(s);
    }
    return out;
  }
  std::vector<Sent> sent;

 private:
  std::string endpoint_;
};

class MembershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MeshOptions o = MeshOptions::Lan();
    o.name = "me";
    o.random_seed = 42;
    auto m = Membership::Create(o, transport_, clock_);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    m_ = std::move(m).value();
    m_->SetEventHandler([this](const MembershipEvent& e) { events_.push_back(e); });
  }

  Envelope Make(MessageType type, const std::string& from, GossipPayload p,
                std::uint64_t incarnation = 0) {
    Envelope e;
    e.header.type = type;
    e.header.sender = from;
    e.header.sender_endpoint = "sim://" + from;
    e.header.incarnation = incarnation;
    e.payload = SharedBytes::FromString(EncodeGossipPayload(p));
    return e;
  }
  static GossipUpdate Update(MemberState state, const std::string& name, std::uint64_t inc,
                             const std::string& from = "x") {
    return GossipUpdate{state, name, "sim://" + name, inc, from};
  }
  // Gossip `u` to the node inside a gossip-only ping from "carrier".
  void Gossip(const GossipUpdate& u) {
    GossipPayload p;
    p.seq = kGossipOnlySeq;
    p.target = "me";
    p.updates.push_back(u);
    m_->Handle(Make(MessageType::kPing, "carrier", p));
  }
  void AddPeer(const std::string& name) { Gossip(Update(MemberState::kAlive, name, 0, name)); }
  // A peer alive in our view for longer than the longest suspicion timeout: its dead verdicts
  // count as such. The clock moves without ticking, so nothing is probed meanwhile.
  void AddTrustedPeer(const std::string& name) {
    AddPeer(name);
    clock_.Advance(std::chrono::seconds(60));
  }
  bool HasEvent(MembershipEventKind kind, const std::string& name) const {
    for (const MembershipEvent& e : events_) {
      if (e.kind == kind && e.member.name == name) return true;
    }
    return false;
  }
  // Advances the clock in small steps, ticking, until `d` has passed.
  void Advance(Duration d) {
    const TimePoint end = clock_.Now() + d;
    while (clock_.Now() < end) {
      clock_.Advance(milliseconds(10));
      m_->Tick();
    }
  }

  ManualClock clock_;
  RecordingTransport transport_{"sim://me"};
  std::unique_ptr<Membership> m_;
  std::vector<MembershipEvent> events_;
};

TEST_F(MembershipTest, CreateRejectsInvalidOptions) {
  MeshOptions o = MeshOptions::Lan();
  EXPECT_TRUE(Membership::Create(o, transport_, clock_).status().IsInvalidArgument());  // no name
  o.name = "n";
  o.probe_timeout = o.probe_interval;
  Status s = Membership::Create(o, transport_, clock_).status();
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("probe_timeout"), std::string::npos);
}

TEST_F(MembershipTest, StartsAloneAliveAtIncarnationZero) {
  EXPECT_EQ(m_->incarnation(), 0u);
  EXPECT_EQ(m_->LiveMembers(), std::vector<std::string>{"me"});
  EXPECT_TRUE(m_->Agreed());
  EXPECT_EQ(m_->endpoint(), "sim://me");
  EXPECT_LE(m_->NextDeadline(), clock_.Now() + std::chrono::seconds(1));
}

TEST_F(MembershipTest, JoinSendsPushPullToSeedsButNotToItself) {
  ASSERT_TRUE(m_->Join({"sim://me", "sim://seed"}).ok());
  auto pp = transport_.Of(MessageType::kPushPullRequest);
  ASSERT_EQ(pp.size(), 1u);
  EXPECT_EQ(pp[0].to, "sim://seed");
  EXPECT_EQ(pp[0].payload.flags & kGossipFlagJoin, kGossipFlagJoin);
  ASSERT_EQ(pp[0].payload.updates.size(), 1u);
  EXPECT_EQ(pp[0].payload.updates[0].name, "me");
}

TEST_F(MembershipTest, PingIsAckedWithSameSeqAndOurDigest) {
  GossipPayload p;
  p.seq = 77;
  p.target = "me";
  m_->Handle(Make(MessageType::kPing, "a", p));
  auto acks = transport_.Of(MessageType::kAck);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].to, "sim://a");
  EXPECT_EQ(acks[0].payload.seq, 77u);
  EXPECT_EQ(acks[0].payload.digest, m_->ViewDigest());
}

TEST_F(MembershipTest, PingForAnotherNameIsNotAcked) {
  GossipPayload p;
  p.seq = 5;
  p.target = "someone-else";
  m_->Handle(Make(MessageType::kPing, "a", p));
  EXPECT_TRUE(transport_.Of(MessageType::kAck).empty());
}

TEST_F(MembershipTest, MalformedPayloadIsDroppedAndCounted) {
  Envelope e = Make(MessageType::kPing, "a", {});
  e.payload = SharedBytes::FromString("\xc1 not msgpack");
  m_->Handle(e);
  EXPECT_EQ(m_->stats().malformed, 1u);
  EXPECT_TRUE(transport_.sent.empty());
}

TEST_F(MembershipTest, AliveGossipAddsMemberAndEmitsJoin) {
  AddPeer("a");
  EXPECT_TRUE(HasEvent(MembershipEventKind::kJoin, "a"));
  EXPECT_EQ(m_->LiveMembers(), (std::vector<std::string>{"a", "me"}));
  EXPECT_FALSE(m_->Agreed());  // a has not reported a digest yet
}

TEST_F(MembershipTest, IncarnationOrdersStatements) {
  AddPeer("a");
  AddTrustedPeer("x");
  Gossip(Update(MemberState::kSuspect, "a", 0));
  EXPECT_EQ(m_->Member("a")->state, MemberState::kSuspect);  // suspect beats alive at equal inc
  Gossip(Update(MemberState::kAlive, "a", 0));
  EXPECT_EQ(m_->Member("a")->state, MemberState::kSuspect);  // stale alive ignored
  Gossip(Update(MemberState::kAlive, "a", 1));
  EXPECT_EQ(m_->Member("a")->state, MemberState::kAlive);  // refuted
  EXPECT_TRUE(HasEvent(MembershipEventKind::kAlive, "a"));
  Gossip(Update(MemberState::kDead, "a", 0));
  EXPECT_EQ(m_->Member("a")->state, MemberState::kAlive);  // older verdict ignored
  Gossip(Update(MemberState::kDead, "a", 1));
  EXPECT_EQ(m_->Member("a")->state, MemberState::kDead);
  EXPECT_TRUE(HasEvent(MembershipEventKind::kDead, "a"));
}

TEST_F(MembershipTest, DeadVerdictOfARecentlyRevivedAccuserIsOnlySuspicion) {
  AddTrustedPeer("a");
  AddTrustedPeer("c");
  // c was cut off: we declared it dead; it comes back (refutes) with a verdict it formed alone.
  Gossip(Update(MemberState::kDead, "c", 0, "a"));
  ASSERT_EQ(m_->Member("c")->state, MemberState::kDead);
  Gossip(Update(MemberState::kAlive, "c", 1, "c"));
  ASSERT_EQ(m_->Member("c")->state, MemberState::kAlive);
  events_.clear();
  Gossip(Update(MemberState::kDead, "a", 0, "c"));
  EXPECT_EQ(m_->Member("a")->state, MemberState::kSuspect);  // a may refute
  EXPECT_FALSE(HasEvent(MembershipEventKind::kDead, "a"));
  Gossip(Update(MemberState::kDead, "a", 0, "x"));  // nor from a stranger
  EXPECT_EQ(m_->Member("a")->state, MemberState::kSuspect);
  AddTrustedPeer("x");
  Gossip(Update(MemberState::kDead, "a", 0, "x"));
  EXPECT_EQ(m_->Member("a")->state, MemberState::kDead);  // a long-standing accuser is trusted
}

TEST_F(MembershipTest, SuspicionAboutItselfIsRefutedWithHigherIncarnation) {
  Gossip(Update(MemberState::kSuspect, "me", 0));
  EXPECT_EQ(m_->incarnation(), 1u);
  Gossip(Update(MemberState::kDead, "me", 4));
  EXPECT_EQ(m_->incarnation(), 5u);
  EXPECT_EQ(m_->Member("me")->state, MemberState::kAlive);
  EXPECT_EQ(m_->stats().refutations, 2u);
  EXPECT_GE(m_->health_score(), 1);  // Lifeguard: refuting counts against our own health
  // The refutation is gossiped: the next message carries alive(me, 5).
  AddPeer("a");
  GossipPayload ping;
  ping.seq = 9;
  ping.target = "me";
  m_->Handle(Make(MessageType::kPing, "a", ping));
  bool found = false;
  const auto acks = transport_.Of(MessageType::kAck);
  ASSERT_FALSE(acks.empty());
  for (const GossipUpdate& u : acks.back().payload.updates) {
    found |= u.name == "me" && u.state == MemberState::kAlive && u.incarnation == 5;
  }
  EXPECT_TRUE(found);
}

TEST_F(MembershipTest, SuspectTimesOutIntoDead) {
  AddPeer("a");
  Gossip(Update(MemberState::kSuspect, "a", 0, "b"));
  // n = 2 live: no confirmations expected, so the timeout is the minimum:
  // 4 * max(1, log10 2) * 1 s = 4 s.
  Advance(milliseconds(3900));
  EXPECT_EQ(m_->Member("a")->state, MemberState::kSuspect);
  Advance(milliseconds(200));
  EXPECT_EQ(m_->Member("a")->state, MemberState::kDead);
}

TEST_F(MembershipTest, PingReqIsRelayedAndAckForwarded) {
  AddPeer("origin");
  AddPeer("target");
  GossipPayload req;
  req.seq = 1234;
  req.target = "target";
  req.target_endpoint = "sim://target";
  req.nack_after_us = 300000;
  m_->Handle(Make(MessageType::kPingReq, "origin", req));
  auto pings = transport_.Of(MessageType::kPing);
  ASSERT_FALSE(pings.empty());
  const auto& ping = pings.back();
  EXPECT_EQ(ping.to, "sim://target");
  EXPECT_EQ(ping.payload.target, "target");
  GossipPayload ack;
  ack.seq = ping.payload.seq;
  m_->Handle(Make(MessageType::kAck, "target", ack));
  auto acks = transport_.Of(MessageType::kAck);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].to, "sim://origin");
  EXPECT_EQ(acks[0].payload.seq, 1234u);
  Advance(milliseconds(500));
  EXPECT_TRUE(transport_.Of(MessageType::kNack).empty());  // acked: no nack owed
}

TEST_F(MembershipTest, PingReqWithoutAckIsNacked) {
  AddPeer("origin");
  GossipPayload req;
  req.seq = 99;
  req.target = "target";
  req.target_endpoint = "sim://target";
  req.nack_after_us = 300000;
  m_->Handle(Make(MessageType::kPingReq, "origin", req));
  Advance(milliseconds(250));
  EXPECT_TRUE(transport_.Of(MessageType::kNack).empty());
  Advance(milliseconds(100));
  auto nacks = transport_.Of(MessageType::kNack);
  ASSERT_EQ(nacks.size(), 1u);
  EXPECT_EQ(nacks[0].to, "sim://origin");
  EXPECT_EQ(nacks[0].payload.seq, 99u);
}

TEST_F(MembershipTest, UnansweredProbeGoesIndirectThenSuspects) {
  for (const char* peer : {"a", "b", "c", "d"}) AddPeer(peer);
  transport_.sent.clear();
  Advance(std::chrono::seconds(1));  // the first probe starts within one interval
  auto pings = transport_.Of(MessageType::kPing);
  std::string target;
  for (const auto& p : pings) {
    if (p.payload.seq != kGossipOnlySeq) target = p.payload.target;
  }
  ASSERT_FALSE(target.empty());
  Advance(milliseconds(1100));
  auto reqs = transport_.Of(MessageType::kPingReq);
  ASSERT_EQ(reqs.size(), 3u);  // indirect_checks helpers, none of them the target
  for (const auto& r : reqs) {
    EXPECT_EQ(r.payload.target, target);
    EXPECT_NE(r.to, "sim://" + target);
    EXPECT_GT(r.payload.nack_after_us, 0u);
  }
  EXPECT_EQ(m_->Member(target)->state, MemberState::kSuspect);
  EXPECT_TRUE(HasEvent(MembershipEventKind::kSuspect, target));
  // No nacks came back from 3 helpers: Lifeguard raises the health score by 3.
  EXPECT_EQ(m_->health_score(), 3);
}

TEST_F(MembershipTest, HeaderIncarnationActsAsRefutation) {
  AddPeer("a");
  Gossip(Update(MemberState::kSuspect, "a", 0));
  GossipPayload ack;
  ack.seq = 12345;  // matches nothing
  m_->Handle(Make(MessageType::kAck, "a", ack, /*incarnation=*/1));
  EXPECT_EQ(m_->Member("a")->state, MemberState::kAlive);
  EXPECT_EQ(m_->Member("a")->incarnation, 1u);
}

TEST_F(MembershipTest, LeaveAnnouncesToLiveMembersAndStopsProbing) {
  AddPeer("a");
  AddPeer("b");
  transport_.sent.clear();
  ASSERT_TRUE(m_->Leave().ok());
  EXPECT_FALSE(m_->Leave().ok());
  auto leaves = transport_.Of(MessageType::kLeave);
  ASSERT_EQ(leaves.size(), 2u);
  EXPECT_EQ(leaves[0].payload.updates.at(0).state, MemberState::kLeft);
  EXPECT_EQ(m_->Member("me")->state, MemberState::kLeft);
  transport_.sent.clear();
  Advance(std::chrono::seconds(5));
  for (const auto& ping : transport_.Of(MessageType::kPing)) {
    EXPECT_EQ(ping.payload.seq, kGossipOnlySeq) << "probe sent after leaving";
  }
  EXPECT_TRUE(transport_.Of(MessageType::kPingReq).empty());
}

TEST_F(MembershipTest, LeaveGossipMarksMemberLeftNotDead) {
  AddPeer("a");
  Gossip(Update(MemberState::kLeft, "a", 0, "a"));
  EXPECT_EQ(m_->Member("a")->state, MemberState::kLeft);
  EXPECT_TRUE(HasEvent(MembershipEventKind::kLeave, "a"));
  EXPECT_FALSE(HasEvent(MembershipEventKind::kDead, "a"));
}

TEST_F(MembershipTest, SameNameFromOtherEndpointIsConflictAndLiveOneKept) {
  AddPeer("a");
  Gossip(GossipUpdate{MemberState::kAlive, "a", "sim://elsewhere", 9, "a"});
  ASSERT_TRUE(HasEvent(MembershipEventKind::kIdentityConflict, "a"));
  for (const MembershipEvent& e : events_) {
    if (e.kind == MembershipEventKind::kIdentityConflict) {
      EXPECT_EQ(e.member.endpoint, "sim://a");
      EXPECT_EQ(e.conflicting_endpoint, "sim://elsewhere");
    }
  }
  EXPECT_EQ(m_->Member("a")->endpoint, "sim://a");
  // Once the original is dead, a newer incarnation may take the name over.
  AddTrustedPeer("x");
  Gossip(Update(MemberState::kDead, "a", 0));
  Gossip(GossipUpdate{MemberState::kAlive, "a", "sim://elsewhere", 9, "a"});
  EXPECT_EQ(m_->Member("a")->endpoint, "sim://elsewhere");
  EXPECT_EQ(m_->Member("a")->state, MemberState::kAlive);
}

TEST_F(MembershipTest, ClaimOnOwnNameFromOtherEndpointIsReported) {
  Gossip(GossipUpdate{MemberState::kAlive, "me", "sim://impostor", 3, "me"});
  EXPECT_TRUE(HasEvent(MembershipEventKind::kIdentityConflict, "me"));
  EXPECT_EQ(m_->Member("me")->endpoint, "sim://me");
}

TEST_F(MembershipTest, AgreedOnceEveryLivePeerReportedOurDigest) {
  AddPeer("a");
  GossipPayload p;
  p.seq = 1;
  p.target = "me";
  p.digest = m_->ViewDigest() + 1;
  m_->Handle(Make(MessageType::kPing, "a", p));
  EXPECT_FALSE(m_->Agreed());
  p.digest = m_->ViewDigest();
  m_->Handle(Make(MessageType::kPing, "a", p));
  EXPECT_TRUE(m_->Agreed());
}

}  // namespace
}  // namespace shardmesh::mesh
