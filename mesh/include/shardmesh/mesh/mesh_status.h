// MeshStatus: one node's view of the mesh as `shardmesh status` shows it (members, ring
// digest, agreement, partitions per member), with its JSON form, which is also the payload of
// kStatusResponse:
//   {"self": name, "endpoint": ..., "incarnation": n, "health": n,
//    "members": [{"name", "endpoint", "state", "incarnation", "last_heard_ms"}...],
//    "ring_digest": "16 hex digits", "agreed": bool, "partitions": {name: count},
//    "node_info": {key: value}}
// node_info is what the application on the answering node reports about itself (a data worker:
// disk use, shards held, replication backlog, transfer progress); absent keys are fine.
// last_heard_ms is how long ago the node last heard from the member (-1: never; 0 for itself).
//
// Thread-safety: plain value type; the functions are pure.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "shardmesh/common/status.h"
#include "shardmesh/mesh/member.h"

namespace shardmesh::mesh {

struct MeshMemberStatus {
  std::string name;
  std::string endpoint;
  MemberState state = MemberState::kAlive;
  std::uint64_t incarnation = 0;
  std::int64_t last_heard_ms = -1;
};

struct MeshStatus {
  std::string self;
  std::string endpoint;
  std::uint64_t incarnation = 0;
  int health = 0;
  std::vector<MeshMemberStatus> members;
  std::uint64_t ring_digest = 0;
  bool agreed = false;
  // Live member -> ring partitions it owns (of MeshOptions::partitions).
  std::map<std::string, std::uint32_t> partitions;
  std::map<std::string, std::string> node_info;     // MeshNode::SetStatusInfo's report
};

std::string MeshStatusToJson(const MeshStatus& status);
// Parses what MeshStatusToJson wrote; Corruption naming the field for anything else.
Result<MeshStatus> MeshStatusFromJson(std::string_view json);
// A fixed-width table for terminals.
std::string MeshStatusToTable(const MeshStatus& status);

}  // namespace shardmesh::mesh
