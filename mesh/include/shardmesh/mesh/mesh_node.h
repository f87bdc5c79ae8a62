// MeshNode: a running mesh member. Owns a Transport and a Membership and drives them from one
// event-loop thread: it blocks in Transport::Receive until the next protocol deadline (capped
// at a few milliseconds), hands envelopes to Membership, answers `shardmesh status` requests,
// and passes any other message type to the handler registered for it. Post() and Stop() end
// the wait at once through Transport::Wake().
//
// Thread-safety: every public method is thread-safe. Event and message handlers run on the
// loop thread without the node's membership lock, so they may call Snapshot(), Members(),
// LiveMembers() and Post(); they must not block, and must not call Stop(), Leave() or the
// handler setters (post instead). Membership events are delivered in order, after the
// protocol step that raised them.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "shardmesh/common/clock.h"
#include "shardmesh/common/status.h"
#include "shardmesh/mesh/envelope.h"
#include "shardmesh/mesh/member.h"
#include "shardmesh/mesh/membership_events.h"
#include "shardmesh/mesh/mesh_options.h"
#include "shardmesh/mesh/mesh_status.h"
#include "shardmesh/mesh/transport.h"

namespace shardmesh::mesh {

class MeshNode {
 public:
  // Validates `options` and wraps `transport` (which must not be used by anyone else).
  // InvalidArgument naming the option on failure.
  static Result<std::unique_ptr<MeshNode>> Create(MeshOptions options,
                                                  std::unique_ptr<Transport> transport,
                                                  const Clock& clock = SystemClock::Instance());
  ~MeshNode();  // Stop()
  MeshNode(const MeshNode&) = delete;
  MeshNode& operator=(const MeshNode&) = delete;

  // Starts the loop thread and joins through `seeds` (retried for ever). FailedPrecondition if
  // already started.
  Status Start(std::vector<std::string> seeds);

  // Announces a graceful leave, keeps the loop running for `drain` so the announcement gets
  // out, then stops. FailedPrecondition if not running.
  Status Leave(Duration drain);

  // Stops the loop thread without announcing anything (a crash, as far as peers can tell).
  // Safe to call twice.
  void Stop();

  // A consistent snapshot of this node's view.
  MeshStatus Snapshot() const;
  std::vector<MemberInfo> Members() const;
  std::vector<std::string> LiveMembers() const;
  const std::string& name() const;
  const std::string& endpoint() const;

  // Called on the loop thread for every membership change (replaces the previous handler).
  // Both setters wait for a call of the handler they replace to finish: once they return, it
  // is not running and will not be called again. A null handler removes it.
  void SetEventHandler(std::function<void(const MembershipEvent&)> handler);

  // Called on the loop thread for each received envelope of `type` (a type Membership does
  // not handle, e.g. kBlockRequest). `transport` is the node's, for replies.
  using MessageHandler = std::function<void(const Envelope& envelope, Transport& transport)>;
  void SetMessageHandler(MessageType type, MessageHandler handler);

  // Called (on the loop thread, without the node's lock) when a status request is answered;
  // its key/value pairs become MeshStatus::node_info. Must be quick.
  void SetStatusInfo(std::function<std::map<std::string, std::string>()> provider);

  // Runs `task` on the loop thread as soon as the loop finishes what it is doing (the
  // transport's Wake() ends a wait in Receive). Tasks run in the order posted.
  void Post(std::function<void(Transport& transport)> task);

 private:
  class Impl;
  explicit MeshNode(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardmesh::mesh
