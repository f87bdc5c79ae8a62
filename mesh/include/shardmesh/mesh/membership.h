// Membership: SWIM failure detection and gossip dissemination with the Lifeguard extensions,
// after hashicorp/memberlist, as a single-threaded state machine. It owns no thread and no
// timer: its owner feeds it every received envelope (Handle), calls Tick() when NextDeadline()
// is reached, and sends through the Transport it was given. That makes the whole protocol run
// deterministically on a ManualClock and a SimNetwork, and lets a real event loop block in
// Transport::Receive until NextDeadline().
//
// Protocol in brief (details and formulas in membership.cc and mesh_options.h): each period
// probe one member (randomized round robin); no ack within probe_timeout -> ask
// indirect_checks peers to probe it (they ack or nack back); no ack by the period's end ->
// suspect it; suspicion times out into dead unless the member refutes by raising its
// incarnation. State changes piggyback on probes; push-pull syncs full state periodically;
// seeds and dead members are retried forever so partitions heal; graceful leave is announced.
//
// Thread-safety: not thread-safe. Every method, and the event handler, run on the owner's
// thread (MeshNode wraps it with a thread and a lock).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shardmesh/common/clock.h"
#include "shardmesh/common/status.h"
#include "shardmesh/mesh/envelope.h"
#include "shardmesh/mesh/member.h"
#include "shardmesh/mesh/membership_events.h"
#include "shardmesh/mesh/mesh_options.h"
#include "shardmesh/mesh/transport.h"

namespace shardmesh::mesh {

// Counters of one node's protocol activity.
struct MembershipStats {
  std::uint64_t probes = 0;           // direct probes started
  std::uint64_t probes_failed = 0;    // probes that ended without any ack
  std::uint64_t indirect_probes = 0;  // ping-req messages sent
  std::uint64_t refutations = 0;      // times this node raised its incarnation
  std::uint64_t push_pulls = 0;       // push-pull requests sent (periodic, join and retry)
  std::uint64_t malformed = 0;        // envelopes dropped as undecodable
};

class Membership {
 public:
  // Validates `options` (InvalidArgument naming the field) and returns a node that knows only
  // itself, alive at incarnation 0. `transport` and `clock` must outlive it. The node
  // advertises options.advertise, or transport.endpoint() when that is empty.
  static Result<std::unique_ptr<Membership>> Create(MeshOptions options, Transport& transport,
                                                    const Clock& clock);
  virtual ~Membership() = default;

  // Sends a push-pull join request to every seed endpoint (its own endpoint is skipped) and
  // remembers the seeds for retries forever. Returns OK when at least one request was queued
  // or the list holds no other endpoint (a first node); Unavailable when every send failed
  // (the seeds are still retried from Tick). Joining is asynchronous: watch Members()/events.
  virtual Status Join(std::vector<std::string> seed_endpoints) = 0;

  // Processes one received envelope (ping, ack, ping-req, nack, push-pull, leave). Malformed
  // payloads and unknown types are dropped and counted; never fails.
  virtual void Handle(const Envelope& envelope) = 0;

  // Runs whatever is due at clock.Now(): probe steps, nacks owed as a helper, suspicion
  // timeouts, push-pull, seed/dead retries, reclaiming long-dead members.
  virtual void Tick() = 0;

  // The earliest time Tick() has something to do.
  virtual TimePoint NextDeadline() const = 0;

  // Announces a graceful leave: marks itself left, sends the leave to every live member and
  // queues it as gossip; then stops probing. FailedPrecondition if already left.
  virtual Status Leave() = 0;

  // Every member this node knows, itself included, sorted by name.
  virtual std::vector<MemberInfo> Members() const = 0;
  // One member, or nullopt when unknown.
  virtual std::optional<MemberInfo> Member(const std::string& name) const = 0;
  // Names of live (alive or suspect) members, itself included, sorted: the ring's input.
  virtual std::vector<std::string> LiveMembers() const = 0;
  virtual std::size_t live_count() const = 0;

  virtual const std::string& name() const = 0;
  virtual const std::string& endpoint() const = 0;
  // This node's incarnation: raised above anything gossiped about it whenever it refutes.
  virtual std::uint64_t incarnation() const = 0;
  // Lifeguard local health score, 0 (healthy) .. awareness_max_multiplier - 1.
  virtual int health_score() const = 0;
  virtual MembershipStats stats() const = 0;

  // `handler` is called synchronously for every view change; replaces any previous handler.
  virtual void SetEventHandler(std::function<void(const MembershipEvent&)> handler) = 0;

  // MemberSetDigest of the live members' names (see ring.h).
  virtual std::uint64_t ViewDigest() const = 0;
  // True when every live member's most recent ping or ack carried the same digest as our
  // current view (trivially true alone). Digests travel on every ping and ack, so after a
  // change Agreed() becomes true once each peer has been heard from again.
  virtual bool Agreed() const = 0;
};

}  // namespace shardmesh::mesh
