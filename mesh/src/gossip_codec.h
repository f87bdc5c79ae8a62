// Wire format of the SWIM payloads carried in Envelope::payload (msgpack), for kPing, kAck,
// kPingReq, kNack, kPushPullRequest/Response and kLeave. One layout serves every type:
//   payload = [seq, target, target_endpoint, digest, nack_after_us, flags, [update...]]
//   update  = [state, name, endpoint, incarnation, from]
// Fields a type does not use are zero/empty (a few bytes, for one decoder to harden and fuzz).
// WARNING: append-only. Peers of other builds decode this; new fields go at the end of the
// arrays (decoders accept and ignore extra trailing elements), never renumber states.
//
// Decoding takes untrusted bytes: every malformed input yields Corruption naming the field;
// it never throws and never allocates beyond the configured limits.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "shardmesh/common/bytes.h"
#include "shardmesh/common/status.h"
#include "shardmesh/mesh/member.h"

namespace shardmesh::mesh {

// One piece of gossip: "member `name` at `endpoint` is in `state` with `incarnation`", said by
// `from` (the accuser for suspect/dead; empty otherwise). Push-pull state entries use it too.
struct GossipUpdate {
  MemberState state = MemberState::kAlive;
  std::string name;
  std::string endpoint;
  std::uint64_t incarnation = 0;
  std::string from;
  friend bool operator==(const GossipUpdate&, const GossipUpdate&) = default;
};

inline constexpr std::uint64_t kGossipFlagJoin = 1;  // push-pull: sender is joining

// A kPing whose seq is kGossipOnlySeq only carries updates: receivers apply them and do not
// ack. Probe sequence numbers start at 1.
inline constexpr std::uint64_t kGossipOnlySeq = 0;

struct GossipPayload {
  std::uint64_t seq = 0;            // ping/ack/ping-req/nack sequence number
  std::string target;               // ping: intended receiver's name; ping-req: member to probe
  std::string target_endpoint;      // ping-req: where to reach `target`
  std::uint64_t digest = 0;         // sender's ViewDigest (ping, ack, push-pull)
  std::uint64_t nack_after_us = 0;  // ping-req: send a nack after this long without ack; 0: none
  std::uint64_t flags = 0;          // kGossipFlag*
  std::vector<GossipUpdate> updates;
  friend bool operator==(const GossipPayload&, const GossipPayload&) = default;
};

// Limits enforced by DecodeGossipPayload.
inline constexpr std::size_t kMaxGossipPayloadBytes = 16u << 20;
inline constexpr std::size_t kMaxGossipUpdates = 1u << 18;
inline constexpr std::size_t kMaxGossipStringBytes = 1024;

// Encodes one update (to be queued for piggybacking).
std::string EncodeGossipUpdate(const GossipUpdate& update);
// Encodes `payload` with its own updates followed by the already-encoded `extra_updates`
// (each the output of EncodeGossipUpdate).
std::string EncodeGossipPayload(const GossipPayload& payload,
                                std::span<const std::string> extra_updates = {});
// Bytes the payload array costs before any update: used to budget piggybacking.
std::size_t GossipPayloadOverhead(const GossipPayload& payload);
// Decodes bytes from an untrusted peer. Corruption("gossip payload field '<name>': ...").
Result<GossipPayload> DecodeGossipPayload(ByteView bytes);

}  // namespace shardmesh::mesh
