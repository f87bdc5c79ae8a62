// msgpack codec of the SWIM payloads. Mirrors envelope.cc: parser limits before parsing, every
// msgpack exception caught here and turned into Corruption naming the field.
#include "gossip_codec.h"

#include <exception>
#include <limits>
#include <msgpack.hpp>

#include "bounded_unpack.h"

namespace shardmesh::mesh {
namespace {

constexpr std::uint32_t kPayloadArity = 7;
constexpr std::uint32_t kUpdateArity = 5;

msgpack::unpack_limit PayloadLimits() {
  return msgpack::unpack_limit(/*array=*/kMaxGossipUpdates, /*map=*/0,
                               /*str=*/kMaxGossipStringBytes, /*bin=*/kMaxGossipStringBytes,
                               /*ext=*/kMaxGossipStringBytes, /*depth=*/4);
}

Status FieldError(std::string_view field, std::string_view problem) {
  return CodecFieldError("gossip payload", field, problem);
}

Result<std::uint64_t> ReadUnsigned(const msgpack::object& o, std::string_view field,
                                   std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) {
  return ReadUnsignedField(o, "gossip payload", field, max);
}

Result<std::string> ReadString(const msgpack::object& o, std::string_view field) {
  return ReadStringField(o, "gossip payload", field);
}

Result<GossipUpdate> DecodeUpdate(const msgpack::object& o, std::size_t index) {
  const std::string where = "updates[" + std::to_string(index) + "]";
  if (o.type != msgpack::type::ARRAY) return FieldError(where, "expected an array");
  const msgpack::object_array& a = o.via.array;
  if (a.size < kUpdateArity) {
    return FieldError(where, "expected " + std::to_string(kUpdateArity) + " elements, got " +
                                 std::to_string(a.size));
  }
  GossipUpdate u;
  SHARDMESH_ASSIGN_OR_RETURN(
      std::uint64_t state,
      ReadUnsigned(a.ptr[0], where + ".state", static_cast<std::uint64_t>(MemberState::kLeft)));
  u.state = static_cast<MemberState>(state);
  SHARDMESH_ASSIGN_OR_RETURN(u.name, ReadString(a.ptr[1], where + ".name"));
  if (u.name.empty()) return FieldError(where + ".name", "empty");
  SHARDMESH_ASSIGN_OR_RETURN(u.endpoint, ReadString(a.ptr[2], where + ".endpoint"));
  SHARDMESH_ASSIGN_OR_RETURN(u.incarnation, ReadUnsigned(a.ptr[3], where + ".incarnation"));
  SHARDMESH_ASSIGN_OR_RETURN(u.from, ReadString(a.ptr[4], where + ".from"));
  return u;
}

Result<GossipPayload> DecodeObject(const msgpack::object& root) {
  if (root.type != msgpack::type::ARRAY) return FieldError("payload", "expected an array");
  const msgpack::object_array& a = root.via.array;
  if (a.size < kPayloadArity) {
    return FieldError("payload", "expected " + std::to_string(kPayloadArity) + " elements, got " +
                                     std::to_string(a.size));
  }
  GossipPayload p;
  SHARDMESH_ASSIGN_OR_RETURN(p.seq, ReadUnsigned(a.ptr[0], "seq"));
  SHARDMESH_ASSIGN_OR_RETURN(p.target, ReadString(a.ptr[1], "target"));
  SHARDMESH_ASSIGN_OR_RETURN(p.target_endpoint, ReadString(a.ptr[2], "target_endpoint"));
  SHARDMESH_ASSIGN_OR_RETURN(p.digest, ReadUnsigned(a.ptr[3], "digest"));
  SHARDMESH_ASSIGN_OR_RETURN(p.nack_after_us, ReadUnsigned(a.ptr[4], "nack_after_us"));
  SHARDMESH_ASSIGN_OR_RETURN(p.flags, ReadUnsigned(a.ptr[5], "flags"));
  const msgpack::object& list = a.ptr[6];
  if (list.type != msgpack::type::ARRAY) return FieldError("updates", "expected an array");
  p.updates.reserve(list.via.array.size);
  for (std::uint32_t i = 0; i < list.via.array.size; ++i) {
    SHARDMESH_ASSIGN_OR_RETURN(GossipUpdate u, DecodeUpdate(list.via.array.ptr[i], i));
    p.updates.push_back(std::move(u));
  }
  return p;
}

void PackString(msgpack::packer<msgpack::sbuffer>& packer, const std::string& s) {
  packer.pack_str(static_cast<std::uint32_t>(s.size()));
  packer.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}

void PackUpdate(msgpack::packer<msgpack::sbuffer>& packer, const GossipUpdate& u) {
  packer.pack_array(kUpdateArity);
  packer.pack_uint8(static_cast<std::uint8_t>(u.state));
  PackString(packer, u.name);
  PackString(packer, u.endpoint);
  packer.pack_uint64(u.incarnation);
  PackString(packer, u.from);
}

void PackHead(msgpack::packer<msgpack::sbuffer>& packer, const GossipPayload& p) {
  packer.pack_array(kPayloadArity);
  packer.pack_uint64(p.seq);
  PackString(packer, p.target);
  PackString(packer, p.target_endpoint);
  packer.pack_uint64(p.digest);
  packer.pack_uint64(p.nack_after_us);
  packer.pack_uint64(p.flags);
}

}  // namespace

std::string EncodeGossipUpdate(const GossipUpdate& update) {
  msgpack::sbuffer buffer(32 + update.name.size() + update.endpoint.size() + update.from.size());
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  PackUpdate(packer, update);
  return std::string(buffer.data(), buffer.size());
}

std::string EncodeGossipPayload(const GossipPayload& payload,
                                std::span<const std::string> extra_updates) {
  msgpack::sbuffer buffer(256);
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  PackHead(packer, payload);
  packer.pack_array(static_cast<std::uint32_t>(payload.updates.size() + extra_updates.size()));
  for (const GossipUpdate& u : payload.updates) PackUpdate(packer, u);
  // Pre-encoded updates are complete msgpack objects: appending their bytes is packing them.
  for (const std::string& raw : extra_updates) buffer.write(raw.data(), raw.size());
  return std::string(buffer.data(), buffer.size());
}

std::size_t GossipPayloadOverhead(const GossipPayload& payload) {
  msgpack::sbuffer buffer(128);
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  PackHead(packer, payload);
  return buffer.size() + 5;  // + the largest array header for the update list
}

Result<GossipPayload> DecodeGossipPayload(ByteView bytes) {
  return UnpackBounded<GossipPayload>(bytes, "gossip payload", "payload", kMaxGossipPayloadBytes,
                                      PayloadLimits(), DecodeObject);
}

}  // namespace shardmesh::mesh
