// FaultTransport: wraps any Transport and injects faults, so real worker processes (driven by
// their config) and unit tests over a SimNetwork can be made lossy, slow or partitioned.
//
//   - drop_rate: each message is lost with this probability, outgoing and incoming alike.
//   - delay: outgoing messages are held for this long, then handed to the inner transport.
//     Held messages are flushed at the start of every Send and Receive call, so a node that
//     stops calling either stops sending (a paused process, like SIGSTOP). Messages still held
//     when the FaultTransport is destroyed are lost, as in a crash.
//   - partition_from: names or endpoints of peers cut off in both directions. Incoming
//     messages are matched on the header's sender and sender_endpoint; outgoing ones on the
//     destination endpoint, or on a name once a message from that name revealed its endpoint.
//
// Drops are silent (Send returns OK), as on a lossy network. Randomness comes from a seeded
// Rng, so a run over a SimNetwork is reproducible.
//
// Thread-safety: like the inner transport, one thread at a time; the setters are meant to be
// called from that same thread (e.g. between protocol steps).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "shardmesh/common/clock.h"
#include "shardmesh/common/random.h"
#include "shardmesh/mesh/transport.h"

namespace shardmesh::mesh {

struct FaultOptions {
  // Probability in [0, 1] of losing each message, applied to sends and to receives alike
  // (so a round trip survives with (1 - drop_rate)^2). 0 disables loss.
  double drop_rate = 0.0;
  // How long each outgoing message is held before the inner transport sees it. Zero sends at
  // once. Larger values model a slow link; they also hold memory for every held message.
  Duration delay = Duration(0);
  // Node names or endpoints whose messages are dropped in both directions. Empty: no partition.
  std::vector<std::string> partition_from;
};

// Counters of injected faults.
struct FaultStats {
  std::uint64_t dropped_outgoing = 0;       // lost to drop_rate on Send
  std::uint64_t dropped_incoming = 0;       // lost to drop_rate on Receive
  std::uint64_t partitioned_outgoing = 0;   // to a peer in partition_from
  std::uint64_t partitioned_incoming = 0;   // from a peer in partition_from
  std::uint64_t delayed = 0;                // held for `delay` before sending
  std::uint64_t delayed_send_failures = 0;  // held messages the inner transport then refused
};

class FaultTransport final : public Transport {
 public:
  FaultTransport(std::unique_ptr<Transport> inner, FaultOptions options, const Clock& clock,
                 std::uint64_t seed);

  const std::string& endpoint() const override { return inner_->endpoint(); }

  // OK when the message was sent, held or dropped by a fault; otherwise the inner
  // transport's error.
  Status Send(const std::string& to_endpoint, const Envelope& envelope) override;

  // The next envelope that survives the faults, waiting at most `timeout` on the inner
  // transport once; std::nullopt if none.
  std::optional<Envelope> Receive(Duration timeout) override;

  // Any thread: wakes the inner transport (faults never delay a wake-up).
  void Wake() override { inner_->Wake(); }

  void SetDropRate(double probability);
  void SetDelay(Duration delay);
  void SetPartitionFrom(std::vector<std::string> peers);
  const FaultOptions& options() const { return options_; }
  const FaultStats& stats() const { return stats_; }
  // Messages currently held by `delay`.
  std::size_t held() const { return held_.size(); }

  Transport& inner() { return *inner_; }

 private:
  struct Held {
    TimePoint due;
    std::string to_endpoint;
    Envelope envelope;
  };

  void FlushDue();
  bool IsPartitionedEndpoint(const std::string& endpoint) const;
  bool IsPartitionedSender(const EnvelopeHeader& header);
  bool Lose();

  std::unique_ptr<Transport> inner_;
  FaultOptions options_;
  const Clock& clock_;
  Rng rng_;
  std::unordered_set<std::string> partition_set_;
  // Endpoints learned from received headers whose sender name is in partition_from.
  std::unordered_set<std::string> partitioned_endpoints_;
  std::deque<Held> held_;  // FIFO: one fixed delay keeps it sorted by due time
  FaultStats stats_;
};

}  // namespace shardmesh::mesh
