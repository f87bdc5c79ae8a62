// ZapHandler: the ZeroMQ authentication (ZAP, RFC 27) handler of one zmq context. It binds
// inproc://zeromq.zap.01 and answers every CURVE handshake on that context's server sockets:
// 200 for a client public key in the allowed set, 400 for anything else (unknown key, another
// mechanism, malformed request). Runs one small thread, stopped and joined by Stop() or the
// destructor.
//
// Thread-safety: Start/Stop from the owning thread; counters are atomics readable anywhere.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <zmq.hpp>

#include "rate_limited_log.h"
#include "shardmesh/common/status.h"

namespace shardmesh::mesh {

class ZapHandler {
 public:
  // Binds the ZAP endpoint in `context` (which must outlive the handler) and starts the
  // thread. `allowed_keys` holds raw 32-byte client public keys. IOError if the endpoint is
  // taken (another handler on the same context) or sockets cannot be created.
  static Result<std::unique_ptr<ZapHandler>> Start(zmq::context_t& context,
                                                   std::unordered_set<std::string> allowed_keys);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  // Stops and joins the thread; safe to call twice.
  void Stop();

  std::uint64_t admitted() const { return admitted_.load(); }
  std::uint64_t refused() const { return refused_.load(); }

 private:
  ZapHandler(zmq::socket_t requests, zmq::socket_t control_rx, zmq::socket_t control_tx,
             std::unordered_set<std::string> allowed_keys);
  void Run();
  void HandleRequest();

  zmq::socket_t requests_;    // REP on inproc://zeromq.zap.01; used only by the thread
  zmq::socket_t control_rx_;  // PAIR; the thread wakes on it to stop
  zmq::socket_t control_tx_;  // PAIR; the owner sends the stop signal
  std::unordered_set<std::string> allowed_keys_;
  RateLimitedLog log_;  // used only by the thread
  std::atomic<std::uint64_t> admitted_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::thread thread_;
};

}  // namespace shardmesh::mesh
