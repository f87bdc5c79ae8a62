// Envelope header codec. The header comes from untrusted peers, so decoding bounds every
// msgpack allocation (unpack_limit) before parsing and turns every msgpack exception into
// Corruption naming the field at fault.
#include "shardmesh/mesh/envelope.h"

#include <exception>
#include <limits>
#include <msgpack.hpp>

#include "bounded_unpack.h"

namespace shardmesh::mesh {
namespace {

constexpr std::uint32_t kHeaderArity = 5;

// Limits handed to the msgpack parser: a valid header is one flat array of five scalars, so
// anything claiming more elements, nesting or longer strings than fit in kMaxHeaderBytes is
// refused before the parser allocates for it.
msgpack::unpack_limit HeaderLimits() {
  return msgpack::unpack_limit(/*array=*/16, /*map=*/0, /*str=*/kMaxHeaderBytes,
                               /*bin=*/kMaxHeaderBytes, /*ext=*/kMaxHeaderBytes, /*depth=*/2);
}

Status FieldError(std::string_view field, std::string_view problem) {
  return CodecFieldError("envelope header", field, problem);
}

Result<std::uint64_t> ReadUnsigned(const msgpack::object& o, std::string_view field,
                                   std::uint64_t max) {
  return ReadUnsignedField(o, "envelope header", field, max);
}

Result<std::string> ReadString(const msgpack::object& o, std::string_view field) {
  return ReadStringField(o, "envelope header", field);
}

Result<EnvelopeHeader> DecodeObject(const msgpack::object& root) {
  if (root.type != msgpack::type::ARRAY) return FieldError("header", "expected an array");
  const msgpack::object_array& a = root.via.array;
  if (a.size == 0) return FieldError("version", "missing (empty array)");
  EnvelopeHeader h;
  SHARDMESH_ASSIGN_OR_RETURN(
      std::uint64_t version,
      ReadUnsigned(a.ptr[0], "version", std::numeric_limits<std::uint32_t>::max()));
  // Version is checked before arity: another version may lay the array out differently.
  if (version != kProtocolVersion) {
    return FieldError("version", "unsupported protocol version " + std::to_string(version) +
                                     " (this build speaks " + std::to_string(kProtocolVersion) +
                                     ")");
  }
  h.version = static_cast<std::uint32_t>(version);
  if (a.size != kHeaderArity) {
    return FieldError("header", "expected " + std::to_string(kHeaderArity) + " elements, got " +
                                    std::to_string(a.size));
  }
  SHARDMESH_ASSIGN_OR_RETURN(
      std::uint64_t type,
      ReadUnsigned(a.ptr[1], "type", std::numeric_limits<std::uint16_t>::max()));
  // Unknown codes pass: newer peers may add types, and the layer above decides what to ignore.
  h.type = static_cast<MessageType>(type);
  SHARDMESH_ASSIGN_OR_RETURN(h.sender, ReadString(a.ptr[2], "sender"));
  if (h.sender.empty()) return FieldError("sender", "empty");
  SHARDMESH_ASSIGN_OR_RETURN(h.sender_endpoint, ReadString(a.ptr[3], "sender_endpoint"));
  SHARDMESH_ASSIGN_OR_RETURN(
      h.incarnation,
      ReadUnsigned(a.ptr[4], "incarnation", std::numeric_limits<std::uint64_t>::max()));
  return h;
}

}  // namespace

std::string_view MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kPing:
      return "ping";
    case MessageType::kPingReq:
      return "ping-req";
    case MessageType::kAck:
      return "ack";
    case MessageType::kNack:
      return "nack";
    case MessageType::kPushPullRequest:
      return "push-pull-request";
    case MessageType::kPushPullResponse:
      return "push-pull-response";
    case MessageType::kLeave:
      return "leave";
    case MessageType::kStatusRequest:
      return "status-request";
    case MessageType::kStatusResponse:
      return "status-response";
    case MessageType::kBlockRequest:
      return "block-request";
    case MessageType::kBlockResponse:
      return "block-response";
    case MessageType::kUser:
      return "user";
    case MessageType::kPartitionProgress:
      return "partition-progress";
  }
  return "unknown";
}

std::string EncodeHeader(const EnvelopeHeader& header) {
  msgpack::sbuffer buffer(64 + header.sender.size() + header.sender_endpoint.size());
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_array(kHeaderArity);
  packer.pack_uint32(header.version);
  packer.pack_uint16(static_cast<std::uint16_t>(header.type));
  packer.pack_str(static_cast<std::uint32_t>(header.sender.size()));
  packer.pack_str_body(header.sender.data(), static_cast<std::uint32_t>(header.sender.size()));
  packer.pack_str(static_cast<std::uint32_t>(header.sender_endpoint.size()));
  packer.pack_str_body(header.sender_endpoint.data(),
                       static_cast<std::uint32_t>(header.sender_endpoint.size()));
  packer.pack_uint64(header.incarnation);
  return std::string(buffer.data(), buffer.size());
}

Result<EnvelopeHeader> DecodeHeader(ByteView bytes) {
  return UnpackBounded<EnvelopeHeader>(bytes, "envelope header", "header", kMaxHeaderBytes,
                                       HeaderLimits(), DecodeObject);
}

}  // namespace shardmesh::mesh
