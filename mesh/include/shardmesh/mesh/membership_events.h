// MembershipEvent: what Membership tells its owner when its view changes, delivered through
// the handler given to Membership::SetEventHandler, synchronously on the thread that called
// Handle/Tick/Join/Leave.
//
// Thread-safety: plain value types.
#pragma once

#include <string>
#include <string_view>

#include "shardmesh/mesh/member.h"

namespace shardmesh::mesh {

enum class MembershipEventKind {
  kJoin,     // a member never seen before (or reclaimed) became alive
  kAlive,    // a suspect refuted, or a dead/left member came back with a higher incarnation
  kSuspect,  // this node started suspecting a member
  kDead,     // suspicion timed out (here or at a peer whose verdict we accepted)
  kLeave,    // a member announced a graceful leave
  kIdentityConflict,  // one name announced from two endpoints
};

// "join", "alive", "suspect", "dead", "leave", "identity_conflict".
std::string_view MembershipEventKindName(MembershipEventKind kind);

struct MembershipEvent {
  MembershipEventKind kind = MembershipEventKind::kJoin;
  MemberInfo member;  // the member's state after the change (for kIdentityConflict: the kept one)
  // kIdentityConflict only: the endpoint of the other claimant of member.name.
  std::string conflicting_endpoint;
};

}  // namespace shardmesh::mesh
