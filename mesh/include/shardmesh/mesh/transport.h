// Transport: how a mesh node sends envelopes to peers and receives them. Implementations:
// ZeroMQ (zmq_transport.h), an in-memory simulated network (sim_network.h), and a
// fault-injecting wrapper around either (fault_transport.h).
//
// Peers are addressed by endpoint strings ("tcp://127.0.0.1:7001" for ZeroMQ, "sim://name" in
// simulation). Delivery is best-effort and unordered across peers: a message may be lost, and
// protocols above cope with that (SWIM is built for it).
//
// Thread-safety: a Transport is used by one thread (the node's event loop) unless an
// implementation says otherwise. The exception is Wake(), which any thread may call.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "shardmesh/common/clock.h"
#include "shardmesh/common/status.h"
#include "shardmesh/mesh/envelope.h"

namespace shardmesh::mesh {

class Transport {
 public:
  virtual ~Transport() = default;

  // The endpoint peers use to reach this node.
  virtual const std::string& endpoint() const = 0;

  // Queues `envelope` for `to_endpoint` without blocking. OK means queued, not delivered.
  // Unavailable when the peer's queue is full or it cannot be reached right now;
  // InvalidArgument for a malformed endpoint or an oversized payload.
  virtual Status Send(const std::string& to_endpoint, const Envelope& envelope) = 0;

  // Returns the next received envelope, waiting at most `timeout` (zero: do not wait).
  // std::nullopt when nothing arrived: an ordinary outcome, not an error. Malformed input
  // from peers is dropped inside the transport (with a rate-limited warning), never returned.
  virtual std::optional<Envelope> Receive(Duration timeout) = 0;

  // Safe from any thread, at any time while the transport exists. Makes the Receive in
  // progress, or else the next one that would wait, return promptly (std::nullopt if nothing
  // arrived), so work handed to the receiving thread is not left waiting for the timeout.
  // Wake-ups coalesce: several before one Receive end one wait. The default does nothing,
  // which is right for transports whose Receive never waits; a transport that waits without
  // overriding this delays such work by up to the caller's timeout.
  virtual void Wake() {}
};

}  // namespace shardmesh::mesh
