// MeshOptions: every knob of a mesh node (identity, SWIM/Lifeguard timing, gossip, ring), with
// named profiles. Timing formulas follow hashicorp/memberlist (config.go, util.go,
// suspicion.go); where a value differs from memberlist the comment says why.
//
// Thread-safety: plain value type.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "shardmesh/common/clock.h"
#include "shardmesh/common/status.h"

namespace shardmesh::mesh {

struct MeshOptions {
  // Unique node name in the mesh (a member's identity; the ring hashes it). Required.
  std::string name;
  // Endpoint the transport binds, e.g. "tcp://127.0.0.1:7001" (used by the transport layer).
  std::string bind;
  // Endpoint peers use to reach this node, gossiped to everyone. Empty: the transport's own
  // endpoint(). Set it when bind is a wildcard or behind NAT.
  std::string advertise;

  // SWIM protocol period: one member is probed per period. Failure detection time and probe
  // traffic (one ping + ack per node per period) both scale with it. Scaled by Lifeguard
  // awareness: effective = probe_interval * (1 + awareness).
  std::chrono::milliseconds probe_interval{1000};
  // How long to wait for a direct ack before asking indirect_checks peers to probe. Should be
  // well above the network RTT (plus the peer's processing time) and below probe_interval / 2,
  // so indirect probes and their nacks fit in the period. Scaled like probe_interval.
  std::chrono::milliseconds probe_timeout{500};
  // k: peers asked to probe a member that missed its direct ack. More peers make a false
  // suspicion less likely under message loss (it needs every path to fail) at k extra
  // ping-req/ping/ack exchanges per failed probe.
  std::uint32_t indirect_checks = 3;
  // Suspicion timeout, memberlist's suspicionTimeout():
  //   min = suspicion_mult * max(1, log10(max(1, n))) * probe_interval
  //   max = suspicion_max_timeout_mult * min
  // A suspect is declared dead after max, shrinking toward min as independent confirmations
  // arrive (k = suspicion_mult - 2 expected; memberlist's log-scaled decay). Higher values
  // give a slow or briefly partitioned node more time to refute, at the cost of detection time.
  std::uint32_t suspicion_mult = 4;
  std::uint32_t suspicion_max_timeout_mult = 6;
  // Each gossip update is piggybacked retransmit_mult * ceil(log10(n + 1)) times
  // (memberlist's retransmitLimit). Higher: surer dissemination, more bytes per message.
  std::uint32_t retransmit_mult = 4;
  // Gossip: every gossip_interval, if updates are queued, send them to gossip_nodes random
  // live members (memberlist GossipInterval 200 ms, GossipNodes 3). Piggybacking on probes
  // alone spreads a change one message per period per node, too slow to let a falsely
  // suspected member hear of it and refute before its suspicion times out. Carried as a ping
  // with sequence number 0, which receivers apply and do not ack (see gossip_codec.h).
  // Shorter interval or more nodes: faster dissemination, more messages. Zero disables.
  std::chrono::milliseconds gossip_interval{200};
  std::uint32_t gossip_nodes = 3;
  // Budget for piggybacked updates in one ping/ack/ping-req, bytes. Larger spreads changes
  // faster during mass joins; smaller keeps each probe message small (memberlist: UDP 1400).
  std::size_t max_piggyback_bytes = 1200;
  // Full state exchange with one random live member every push_pull_interval, repairing what
  // gossip missed. Cost: O(n) bytes per exchange. Zero disables it.
  std::chrono::milliseconds push_pull_interval{30000};
  // Lifeguard local health: awareness score in [0, awareness_max_multiplier - 1]; timeouts and
  // the probe interval are multiplied by (1 + score). Higher lets a starved node slow down
  // further instead of accusing healthy peers; 1 disables Lifeguard's scaling.
  std::uint32_t awareness_max_multiplier = 8;
  // Seeds that are not alive in our view and members we hold dead are sent a push-pull join
  // request every seed_retry_interval, forever, so a healed partition merges back. Cost: one
  // exchange per unreachable seed (and one dead member) per interval.
  std::chrono::milliseconds seed_retry_interval{5000};
  // Dead and left members stay in the table (shown in status, retried for reconnects) this
  // long after their death, then are forgotten. memberlist's GossipToTheDeadTime is 30 s.
  std::chrono::milliseconds dead_reclaim_time{300000};
  // Seed of this node's probe order and random peer choices. Zero: derived from the name, so
  // nodes differ but a simulation is reproducible.
  std::uint64_t random_seed = 0;

  // Ring: virtual nodes per member (see RingOptions::vnodes).
  std::uint32_t vnodes = 128;
  // Canonical partitions of an epoch (fixed for a job); see AssignPartitions.
  std::uint32_t partitions = 1024;
  // Copies of each block/checkpoint kept on ring successors, primary included.
  std::uint32_t replication = 2;

  // memberlist DefaultLANConfig: probe 1 s, timeout 500 ms, suspicion mult 4 (max mult 6),
  // retransmit 4, push-pull 30 s, 3 indirect checks, awareness 8, gossip 200 ms x 3 nodes. For 16
  // nodes a dead node is suspected after its first failed probe and declared dead 4 * log10(16) * 1
  // s = 4.8 s (with 2 confirmations) to 28.9 s (none) later.
  static MeshOptions Lan();
  // Loopback / one host: probe 200 ms, timeout 100 ms, suspicion mult 4 (max mult 2),
  // retransmit 4, gossip 50 ms x 3 nodes, push-pull 5 s, seed retry 1 s. Chosen so that a
  // killed worker among 8 is declared dead by everyone in under 3 s:
  //   - 7 live probers each visit it once per 7-period round in random order, so the chance
  //     that none has probed it after t periods is ((7 - t) / 7)^7: 2% at t = 3 (600 ms);
  //     its probe fails at the end of that period: first suspicion by ~800 ms;
  //   - suspicion timeout n = 8: min = 4 * max(1, log10 8) * 200 ms = 800 ms,
  //     max = 2 * 800 ms = 1.6 s (k = 2 independent confirmations bring it to 800 ms);
  //   - the suspect update reaches all 8 within ~3 gossip rounds (150 ms), and each node's
  //     own timer runs from its receipt: 0.8 + 0.15 + 1.6 = 2.55 s < 3 s worst case,
  //     ~1.2 s typical (measured: membership_sim_test KilledNode..., 1.1-1.5 s over 30 seeds).
  // Why not shorter: a falsely suspected member needs the suspicion to reach it and its
  // refutation to reach everyone before min; with retransmit 3 and a 600 ms min, one node in
  // 8 missed the refutation now and then in the simulations.
  static MeshOptions Local();

  // OK, or InvalidArgument naming the first bad field (empty name, zero interval, timeout
  // not below the interval, zero multipliers).
  Status Validate() const;
};

// memberlist suspicionTimeout(): suspicion_mult * max(1, log10(max(1, n))) * interval.
Duration SuspicionMinTimeout(std::uint32_t suspicion_mult, std::size_t n, Duration interval);
// memberlist retransmitLimit(): retransmit_mult * ceil(log10(n + 1)).
std::uint32_t RetransmitLimit(std::uint32_t retransmit_mult, std::size_t n);
// Derived, probabilistic upper bound on the time from a member's crash until every live
// member of an n-node mesh (healthy network, awareness 0) holds it dead:
//   probe window: min(n - 1, 7) periods (the chance that no prober reached it by then is
//     about e^-7 < 0.1%), plus the failed probe's own period;
//   dissemination of the suspicion to all: ceil(log2(n)) + 2 periods;
//   the full suspicion timeout max (no confirmations assumed).
Duration DetectionBound(const MeshOptions& options, std::size_t n);

}  // namespace shardmesh::mesh
