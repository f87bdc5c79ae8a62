// SimNetwork: a deterministic in-memory network for protocol tests of hundreds or thousands of
// nodes in one process. Each Attach()ed endpoint gets a Transport; messages travel through one
// global priority queue ordered by (delivery time, sequence number) and become visible to
// Receive() once the injected clock reaches their delivery time. Nothing sleeps: tests advance
// a ManualClock (NextDeliveryTime() says how far).
//
// Faults, all drawn from one seeded Rng, so the same seed and the same sequence of calls give
// the same delivery trace:
//   - drop probability, global and per directed link;
//   - base delay plus uniform jitter (so messages reorder);
//   - duplication probability (the copy gets its own delay);
//   - partitions into groups, and one-way link blocking;
//   - a node Down (crashed: its inbox is lost, everything to and from it is dropped) / Up;
//   - per-node processing delay, added to every message delivered to that node ("slow node").
// Partitions, blocks and Down are checked when a message is sent and again when it is due, so
// a message in flight when a partition starts is lost, as on a real network.
//
// Cost: Send is O(log M) for M messages in flight; Receive moves every due message into its
// destination's inbox (O(log M) each) and pops one; nothing scans all nodes.
//
// Thread-safety: all methods, and the Transports it hands out, are safe to call from any
// thread (one internal mutex), but determinism holds only if calls happen in a fixed order.
// The SimNetwork must outlive every Transport it hands out.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shardmesh/common/clock.h"
#include "shardmesh/mesh/transport.h"

namespace shardmesh::mesh {

// Counters of a SimNetwork, for the whole network or one node. Bytes count the encoded
// header plus the payload, as they would travel on the ZeroMQ wire.
struct SimStats {
  std::uint64_t messages_sent = 0;  // Send calls accepted (per node: sent by it)
  std::uint64_t bytes_sent = 0;
  std::uint64_t messages_delivered = 0;  // reached an inbox (per node: delivered to it)
  std::uint64_t bytes_delivered = 0;
  std::uint64_t messages_dropped = 0;  // lost to a fault (per node: sent by it and lost)
  std::uint64_t bytes_dropped = 0;
  std::uint64_t messages_duplicated = 0;  // extra copies injected (per node: of its sends)
};

class SimNetwork {
 public:
  SimNetwork(std::uint64_t seed, const Clock& clock);
  ~SimNetwork();
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  // Returns a Transport whose endpoint() is `endpoint` (any string, e.g. "sim://node-7").
  // Re-attaching an endpoint (a restarted node) starts with an empty inbox; the previous
  // Transport for it, if still alive, is detached: its Send returns Unavailable and its
  // Receive returns nothing. Destroying a Transport detaches it too.
  std::unique_ptr<Transport> Attach(std::string endpoint);

  // Probability in [0, 1] that any message is lost.
  void SetDropRate(double probability);
  // Probability in [0, 1] that a message from `from` to `to` is lost (one direction only),
  // applied in addition to the global rate.
  void SetLinkDropRate(const std::string& from, const std::string& to, double probability);
  // Every message takes `base` plus a uniform draw in [0, jitter]. Default: zero, zero.
  void SetDelay(Duration base, Duration jitter);
  // Probability in [0, 1] that a message is delivered twice.
  void SetDuplicateRate(double probability);

  // Splits the network: messages only flow between endpoints of the same group. Endpoints in
  // no group form one more group together. Replaces any previous partition.
  void Partition(const std::vector<std::vector<std::string>>& groups);
  // Removes the partition and every blocked link.
  void Heal();
  // Drops every message from `from` to `to` (one direction) until UnblockLink or Heal.
  void BlockLink(const std::string& from, const std::string& to);
  void UnblockLink(const std::string& from, const std::string& to);

  // Crashes `endpoint`: its inbox is emptied and every message to or from it is dropped until
  // Up(). The node's Transport stays valid (its Receive returns nothing while down).
  void Down(const std::string& endpoint);
  void Up(const std::string& endpoint);
  bool IsDown(const std::string& endpoint) const;
  // Extra delay added to every message delivered to `endpoint` (zero by default).
  void SetProcessingDelay(const std::string& endpoint, Duration delay);

  // Delivery time of the earliest message still in flight, if any.
  std::optional<TimePoint> NextDeliveryTime() const;
  // Messages in flight (not yet due or not yet moved to an inbox).
  std::size_t InFlight() const;

  SimStats TotalStats() const;
  // Zero counters for an endpoint never seen.
  SimStats NodeStats(const std::string& endpoint) const;
  void ResetStats();

 private:
  class Impl;
  class SimTransport;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardmesh::mesh
