// Envelope: what travels between mesh nodes. A header (protocol version, message type, sender
// name and endpoint, sender incarnation) plus an opaque payload. On the ZeroMQ wire the header
// is one msgpack frame, the payload a second frame and an optional attachment a third, so
// large payloads (blocks) are never re-encoded.
//
// Thread-safety: plain value types.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "shardmesh/common/bytes.h"
#include "shardmesh/common/status.h"

namespace shardmesh::mesh {

// Version of the envelope header and of every message payload. A node drops envelopes of a
// version it does not speak, with a rate-limited warning.
inline constexpr std::uint32_t kProtocolVersion = 1;

// Message type codes.
// WARNING: append-only. These numbers are on the wire between nodes of different builds;
// never renumber or reuse a code, only add new ones at the end.
enum class MessageType : std::uint16_t {
  kPing = 1,             // SWIM direct probe; payload carries piggybacked updates
  kPingReq = 2,          // SWIM indirect probe request: "ping target for me"
  kAck = 3,              // reply to kPing / relayed kPingReq
  kNack = 4,             // Lifeguard: helper could not reach target in time
  kPushPullRequest = 5,  // full state sync request (carries sender's state)
  kPushPullResponse = 6, // full state sync reply
  kLeave = 7,            // graceful leave announcement
  kStatusRequest = 8,    // `shardmesh status` asking a node for its view
  kStatusResponse = 9,
  kBlockRequest = 10,    // exchange: fetch a block
  kBlockResponse = 11,
  kUser = 12,            // opaque application message, routed by a sub-type in the payload
  kPartitionProgress = 13,  // mesh loader: partition owners and cursors (loader/partition_table.h)
};

std::string_view MessageTypeName(MessageType type);

struct EnvelopeHeader {
  std::uint32_t version = kProtocolVersion;
  MessageType type = MessageType::kPing;
  std::string sender;           // node name, unique in the mesh
  std::string sender_endpoint;  // where the sender's inbox listens, e.g. tcp://127.0.0.1:7001
  std::uint64_t incarnation = 0;
};

struct Envelope {
  EnvelopeHeader header;
  SharedBytes payload;
  // Optional bulk bytes beside the payload (a block answering kBlockResponse). On the ZeroMQ
  // wire it is a third frame, present only when non-empty, so a block is sent from the
  // provider's buffer and received into a buffer of its own without being re-encoded or copied
  // into the payload.
  SharedBytes attachment;
};

// Upper bound on an encoded header; anything larger is malformed.
inline constexpr std::size_t kMaxHeaderBytes = 1024;

// Encodes the header as a msgpack array [version, type, sender, sender_endpoint, incarnation].
std::string EncodeHeader(const EnvelopeHeader& header);

// Decodes bytes from an untrusted peer. Corruption with a message naming the field on any
// malformed, truncated or oversized input; never throws, never reads out of bounds.
Result<EnvelopeHeader> DecodeHeader(ByteView bytes);

}  // namespace shardmesh::mesh
