// ZmqTransport: the mesh Transport over ZeroMQ. One ROUTER socket (ROUTER_MANDATORY) is this
// node's inbox; DEALER sockets to peers are opened lazily on the first Send to them and closed
// when idle. Each envelope travels as two frames, [msgpack header, payload]; payloads are
// neither copied on send (the SharedBytes stays alive until ZeroMQ has sent it) nor on receive
// (the received zmq message backs the SharedBytes). Malformed input from peers is dropped with
// a rate-limited warning. With CurveZMQ configured (see transport_options.h) every connection
// is encrypted and only admitted peers are heard.
//
// Thread-safety: one thread at a time (the node's event loop), like every Transport, except
// Wake(), which is safe from any thread while the transport exists. Each
// instance owns its ZeroMQ context, ZAP handler thread and sockets; Close() or the destructor
// releases them all.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "shardmesh/common/clock.h"
#include "shardmesh/common/status.h"
#include "shardmesh/mesh/transport.h"
#include "shardmesh/mesh/transport_options.h"

namespace shardmesh::mesh {

struct ZmqTransportStats {
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_sent = 0;  // header + payload
  std::uint64_t messages_received = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t send_would_block = 0;   // Send returned Unavailable (peer queue full)
  std::uint64_t malformed_dropped = 0;  // wrong frame count or bad header
  std::uint64_t warnings_logged = 0;    // drop warnings written (at most 1/s per kind)
  std::uint64_t peers_opened = 0;
  std::uint64_t peers_closed = 0;  // idle or evicted DEALERs
};

class ZmqTransport final : public Transport {
 public:
  // Binds the inbox and, with CURVE, starts the ZAP handler. InvalidArgument for a bad option
  // (naming it), FailedPrecondition if CURVE is asked for but libzmq lacks it, IOError if the
  // bind or the wake-up eventfd fails. `clock` drives idle-peer expiry and log rate limiting;
  // it must outlive the transport.
  static Result<std::unique_ptr<ZmqTransport>> Create(ZmqTransportOptions options,
                                                      const Clock& clock = SystemClock::Instance());

  ~ZmqTransport() override;
  ZmqTransport(const ZmqTransport&) = delete;
  ZmqTransport& operator=(const ZmqTransport&) = delete;

  // The advertised endpoint (the bound one, with the real port, unless `advertise` is set).
  const std::string& endpoint() const override;

  // Queues the envelope on the DEALER to `to_endpoint` without blocking. An empty
  // header.sender_endpoint is filled with endpoint(). InvalidArgument for an oversized payload
  // or an endpoint ZeroMQ rejects; Unavailable when the peer's queue is full (naming the peer)
  // or the transport is closed.
  Status Send(const std::string& to_endpoint, const Envelope& envelope) override;

  // Waits up to `timeout` for a well-formed envelope; std::nullopt if none arrived (or the
  // transport is closed). Malformed messages are dropped and counted, never returned.
  std::optional<Envelope> Receive(Duration timeout) override;

  // Any thread: ends the Receive in progress (or the next one that would wait) at once. An
  // eventfd polled beside the inbox, so a wake-up is one write(2), no ZeroMQ socket shared
  // between threads.
  void Wake() override;

  // Closes every socket, stops the ZAP handler and terminates the context (waiting up to
  // `linger` for queued messages). Safe to call twice; the destructor calls it.
  void Close();

  // DEALERs currently open.
  std::size_t open_peer_count() const;
  const ZmqTransportStats& stats() const;

 private:
  class Impl;
  explicit ZmqTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardmesh::mesh
