// MemberInfo: one node's view of one mesh member (name, endpoint, SWIM state, incarnation,
// when it was last heard from). A snapshot value returned by Membership::Members().
//
// Thread-safety: plain value types.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "shardmesh/common/clock.h"

namespace shardmesh::mesh {

// SWIM member states. Also on the wire (gossip updates, push-pull state).
// WARNING: append-only; never renumber.
enum class MemberState : std::uint8_t {
  kAlive = 0,    // answering probes, or not yet suspected
  kSuspect = 1,  // a probe failed; dead after the suspicion timeout unless it refutes
  kDead = 2,     // suspicion timed out; kept until dead_reclaim_time for reconnect attempts
  kLeft = 3,     // announced a graceful leave
};

// "alive", "suspect", "dead", "left" (or "unknown" for a value off the enum).
std::string_view MemberStateName(MemberState state);

// Alive and suspect members still own their partitions; dead and left ones do not.
constexpr bool IsLive(MemberState state) {
  return state == MemberState::kAlive || state == MemberState::kSuspect;
}

struct MemberInfo {
  std::string name;      // unique in the mesh
  std::string endpoint;  // where its transport listens
  MemberState state = MemberState::kAlive;
  std::uint64_t incarnation = 0;  // raised only by the member itself, to refute suspicion
  TimePoint last_heard{};         // last message received directly from it (epoch if never)
  TimePoint state_since{};        // when this node last changed the member's state
};

}  // namespace shardmesh::mesh
